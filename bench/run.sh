#!/bin/sh
# Benchmarks nodegate beside HAProxy and nginx: same three nodesim backends, same wrk
# load, interleaved rounds, then memory per idle keep-alive client connection.
# Run from the repo root (`make bench` does). Method and output: bench/README.md.
#
# Settings (environment):
#   BENCH_DURATION=5        seconds per measured wrk run
#   BENCH_ROUNDS=3          rounds; each runs every proxy at every connection count
#   BENCH_CONNS="50 1000"   wrk connection counts
#   BENCH_THREADS=2         wrk threads
#   BENCH_WARMUP=1          seconds of unrecorded load per proxy before round 1
#   BENCH_IDLE=10000        idle keep-alive connections for the memory measurement (0: skip)
#   BENCH_PROXIES="nodegate haproxy nginx"
#   BENCH_NODEGATE_BASE=    another nodegate binary (a baseline build): runs as a fourth
#                           proxy, nodegate-base, with the same config template
#   BENCH_PORT_BASE=19000   backends on BASE+1..3, nodegate BASE+80, haproxy +81, nginx +82,
#                           nodegate-base +83
#   BENCH_NGINX_KEEPALIVE=64  nginx upstream `keepalive` (idle backend connections cached)
#   BENCH_NODEGATE_MAX_IDLE=  nodegate pool `max_idle` per backend (unset: its default)
#   BENCH_BACKEND=nodesim   "stub": an nginx stand-in backend (only to develop the harness)
#   BENCH_HEALTH=1          0: skip bench/health.sh (probe cost, time to removal) at the end
#   BUILD=build             where nodegate and nodesim are
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-50 1000}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-1}
IDLE=${BENCH_IDLE:-10000}
PROXIES=${BENCH_PROXIES:-nodegate haproxy nginx}
NG_BASE=${BENCH_NODEGATE_BASE:-}
BASE=${BENCH_PORT_BASE:-19000}
BACKEND=${BENCH_BACKEND:-nodesim}
NGX_KEEPALIVE=${BENCH_NGINX_KEEPALIVE:-64}
NG_MAX_IDLE=${BENCH_NODEGATE_MAX_IDLE:+max_idle = $BENCH_NODEGATE_MAX_IDLE}
PY=/usr/bin/python3
OUT=bench/out
RUN=$OUT/run
RESULTS=$OUT/results.jsonl

B1=$((BASE + 1)) B2=$((BASE + 2)) B3=$((BASE + 3))
port_nodegate=$((BASE + 80)) port_haproxy=$((BASE + 81)) port_nginx=$((BASE + 82))
port_nodegate_base=$((BASE + 83))
WANT_NOFILE=$((IDLE * 2 + 10000)) # proxies, the idle client and wrk inherit the limit

PIDS=""     # every process started here, killed on exit
CLEANED=""

say() { printf '%s\n' "bench: $*"; }
die() { printf '%s\n' "bench: $*" >&2; exit 1; }

# running PID: true while PID exists and is not a zombie.
running() {
	[ -r "/proc/$1/stat" ] || return 1
	! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}

# kill_tree PID: TERM the process and its children, KILL whatever is left after 3 s.
kill_tree() {
	kids=$(ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ')
	kill -TERM "$1" $kids 2>/dev/null
	i=0
	while [ $i -lt 30 ] && running "$1"; do
		sleep 0.1
		i=$((i + 1))
	done
	for k in "$1" $kids; do
		running "$k" && kill -KILL "$k" 2>/dev/null
	done
	wait "$1" 2>/dev/null
	return 0
}

cleanup() {
	[ -n "$CLEANED" ] && return
	CLEANED=1
	for p in $PIDS; do
		kill_tree "$p"
	done
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP

# var NAME: NAME as a shell variable name (nodegate-base: nodegate_base), for port_/pid_.
var() { printf '%s' "$1" | tr - _; }

# track PID: remember a started process for cleanup.
track() { PIDS="$PIDS $1"; }
untrack() {
	n=""
	for p in $PIDS; do [ "$p" = "$1" ] || n="$n $p"; done
	PIDS=$n
}

# render TEMPLATE OUT PORT: fill in a config template.
render() {
	sed -e "s|@PORT@|$3|g" -e "s|@B1@|$B1|g" -e "s|@B2@|$B2|g" -e "s|@B3@|$B3|g" \
		-e "s|@DIR@|$(pwd)/$RUN|g" -e "s|@MAXCONN@|$MAXCONN|g" -e "s|@NOFILE@|$NOFILE|g" \
		-e "s|@NGX_KEEPALIVE@|$NGX_KEEPALIVE|g" -e "s|@NG_MAX_IDLE@|$NG_MAX_IDLE|g" \
		"$1" >"$2"
}

# ---------------------------------------------------------------- checks

for t in wrk haproxy nginx; do
	command -v $t >/dev/null 2>&1 || die "$t is missing (make deps-bench installs it)"
done
[ -x "$PY" ] || die "$PY is missing"
[ "$BACKEND" = nodesim ] && { [ -x "$BUILD/nodesim" ] || die "$BUILD/nodesim is missing (make all)"; }
case " $PROXIES " in *" nodegate "*)
	[ -x "$BUILD/nodegate" ] || die "$BUILD/nodegate is missing (make all)" ;;
esac
if [ -n "$NG_BASE" ]; then
	[ -x "$NG_BASE" ] && [ -f "$NG_BASE" ] ||
		die "BENCH_NODEGATE_BASE=$NG_BASE is not an executable file"
	NG_BASE=$(cd "$(dirname "$NG_BASE")" && pwd)/$(basename "$NG_BASE")
	NG_BASE_REV=$(git -C "$(dirname "$NG_BASE")" rev-parse --short HEAD 2>/dev/null ||
		echo "not in a git checkout")
	case " $PROXIES " in *" nodegate-base "*) ;; *) PROXIES="$PROXIES nodegate-base" ;; esac
fi

# Open files: as many as allowed up to WANT_NOFILE. Each proxy's connection limit is set
# below it (an idle client connection costs a proxy one descriptor).
ulimit -n "$WANT_NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=$WANT_NOFILE
[ "$NOFILE" -gt "$WANT_NOFILE" ] && NOFILE=$WANT_NOFILE
MAXCONN=$((NOFILE - 100))
[ "$MAXCONN" -gt 20000 ] && MAXCONN=20000
[ "$MAXCONN" -ge $((IDLE + 500)) ] ||
	die "open files limit $NOFILE is too low for BENCH_IDLE=$IDLE (ulimit -n)"

ports="$B1 $B2 $B3"
for p in $PROXIES; do eval "ports=\"\$ports \$port_$(var "$p")\""; done
$PY bench/bench.py free $ports || exit 1

rm -rf "$RUN" && mkdir -p "$RUN"
rm -f "$RESULTS" "$OUT/warmup.jsonl" "$OUT/results.json"

# ---------------------------------------------------------------- backends

start_backends() {
	if [ "$BACKEND" = stub ]; then
		render bench/stub-nginx.conf.in "$RUN/stub.conf" 0
		nginx -p "$(pwd)/$RUN" -c "$(pwd)/$RUN/stub.conf" -e "$(pwd)/$RUN/stub.err" \
			>"$RUN/stub.log" 2>&1 &
		track $!
		for p in $B1 $B2 $B3; do
			$PY bench/bench.py ready --port "$p" --pid $! --what "stub backend" || exit 1
		done
		return
	fi
	n=1
	for p in $B1 $B2 $B3; do
		"$BUILD/nodesim" --listen "127.0.0.1:$p" --name "node$n" --quiet \
			>"$RUN/node$n.log" 2>&1 &
		track $!
		$PY bench/bench.py ready --port "$p" --pid $! --what "nodesim node$n" || exit 1
		n=$((n + 1))
	done
}

# ---------------------------------------------------------------- proxies

# start_proxy NAME: start a fresh NAME on its port; sets pid_NAME (pid_nodegate_base).
start_proxy() {
	eval "port=\$port_$(var "$1")"
	case $1 in
	nodegate | nodegate-base)
		bin=$BUILD/nodegate
		[ "$1" = nodegate-base ] && bin=$NG_BASE
		render bench/nodegate.ini.in "$RUN/$1.ini" "$port"
		"$bin" -c "$RUN/$1.ini" >"$RUN/$1.log" 2>&1 &
		;;
	haproxy)
		render bench/haproxy.cfg.in "$RUN/haproxy.cfg" "$port"
		haproxy -db -f "$RUN/haproxy.cfg" >"$RUN/haproxy.log" 2>&1 &
		;;
	nginx)
		render bench/nginx.conf.in "$RUN/nginx.conf" "$port"
		nginx -p "$(pwd)/$RUN" -c "$(pwd)/$RUN/nginx.conf" -e "$(pwd)/$RUN/nginx.err" \
			>"$RUN/nginx.log" 2>&1 &
		;;
	esac
	pid=$!
	track $pid
	eval "pid_$(var "$1")=$pid"
	$PY bench/bench.py ready --port "$port" --pid "$pid" --what "$1" ||
		{ tail -n 20 "$RUN/$1.log" >&2; exit 1; }
}

stop_proxy() {
	eval "pid=\$pid_$(var "$1")"
	kill_tree "$pid"
	untrack "$pid"
}

# rotate N WORDS...: the words rotated left N times (round r starts with proxy r).
rotate() {
	n=$1
	shift
	while [ "$n" -gt 0 ]; do
		first=$1
		shift
		set -- "$@" "$first"
		n=$((n - 1))
	done
	echo "$@"
}

load() { # load NAME CONNS ROUND DURATION OUTFILE
	v=$(var "$1")
	eval "$PY bench/bench.py load --name $1 --pid \$pid_$v --port \$port_$v --conns $2 \
		--round $3 --duration $4 --threads $THREADS --out $5" || exit 1
}

# ---------------------------------------------------------------- run

nproxies=$(echo $PROXIES | wc -w)
say "proxies: $PROXIES; backends: 3x $BACKEND; wrk -t$THREADS, ${DURATION}s runs," \
	"$ROUNDS rounds at $CONNS connections; $IDLE idle connections; logs in $RUN"
[ -n "$NG_BASE" ] && say "nodegate-base: $NG_BASE (git $NG_BASE_REV)"
start_backends

say "load: starting the proxies"
for p in $PROXIES; do start_proxy "$p"; done
if [ "$WARMUP" -gt 0 ]; then
	say "load: warm-up (${WARMUP}s each, not recorded)"
	for c in $CONNS; do maxc=$c; done
	for p in $PROXIES; do load "$p" "$maxc" 0 "$WARMUP" "$OUT/warmup.jsonl"; done
fi
r=1
while [ $r -le "$ROUNDS" ]; do
	order=$(rotate $(((r - 1) % nproxies)) $PROXIES)
	say "load: round $r of $ROUNDS ($order)"
	for c in $CONNS; do
		for p in $order; do
			load "$p" "$c" "$r" "$DURATION" "$RESULTS"
			sleep 0.5
		done
	done
	r=$((r + 1))
done
for p in $PROXIES; do stop_proxy "$p"; done

if [ "$IDLE" -gt 0 ]; then
	say "idle: $IDLE keep-alive connections to a fresh instance of each proxy"
	for p in $PROXIES; do
		start_proxy "$p"
		v=$(var "$p")
		eval "timeout -k 5 150 $PY bench/bench.py idle --name $p --pid \$pid_$v \
			--port \$port_$v --conns $IDLE --out $RESULTS" || exit 1
		stop_proxy "$p"
	done
fi

stop_backends() { for p in $PIDS; do kill_tree "$p"; done; PIDS=""; }
stop_backends

$PY bench/bench.py report --results "$RESULTS" --json "$OUT/results.json" \
	--meta "rounds=$ROUNDS" --meta "duration=$DURATION" --meta "conns=$CONNS" \
	--meta "wrk_threads=$THREADS" --meta "idle_conns=$IDLE" --meta "backend=$BACKEND" \
	--meta "nginx_keepalive=$NGX_KEEPALIVE" --meta "nofile=$NOFILE" \
	--meta "nodegate_max_idle=${BENCH_NODEGATE_MAX_IDLE:-default}" \
	--meta "cpus=$(nproc)" --meta "kernel=$(uname -r)" \
	--meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--meta "git=$(git rev-parse --short HEAD 2>/dev/null || echo none)" \
	${NG_BASE:+--meta "nodegate_base=$NG_BASE ($NG_BASE_REV)"} \
	--meta "haproxy=$(haproxy -v 2>/dev/null | head -n 1)" \
	--meta "nginx=$(nginx -v 2>&1)" --meta "wrk=$(wrk -v 2>&1 | head -n 1)"

# The health engine: what probing 1000 backends costs, and how fast a failed node leaves
# rotation (bench/health.sh; its settings are BENCH_HEALTH_*). BENCH_HEALTH=0 skips it.
if [ "${BENCH_HEALTH:-1}" != 0 ]; then
	echo
	say "health: probe cost and time to removal (bench/health.sh)"
	sh bench/health.sh || exit 1
fi
