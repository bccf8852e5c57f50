#!/bin/sh
# Benchmarks nodegate beside HAProxy and nginx, each at every width (nodegate `workers`,
# HAProxy `nbthread`, nginx `worker_processes`): same three nodesim backends, same wrk
# load, interleaved rounds; then an L4 relay (iperf3 through nodegate's mode = tcp and
# HAProxy's mode tcp) and memory per idle keep-alive client connection.
# Run from the repo root (`make bench` does). Method and output: bench/README.md.
#
# Settings (environment):
#   BENCH_WIDTHS="1 2"      widths (1..9): each proxy runs once per width, as PROXY-WIDTH
#   BENCH_DURATION=4        seconds per measured wrk run
#   BENCH_ROUNDS=3          rounds; each runs every variant at every connection count
#   BENCH_CONNS="50 1000"   wrk connection counts
#   BENCH_THREADS=2         wrk threads
#   BENCH_WARMUP=1          seconds of unrecorded load per variant before round 1
#   BENCH_IDLE=10000        idle keep-alive connections for the memory measurement (0: skip)
#   BENCH_L4=1              0: skip the L4 relay (iperf3)
#   BENCH_L4_DURATION=3     seconds per iperf3 run
#   BENCH_L4_ROUNDS=2       L4 rounds; each runs every L4 variant once
#   BENCH_L4_STREAMS=4      parallel iperf3 streams (connections) per run
#   BENCH_PROXIES="nodegate haproxy nginx"
#   BENCH_NODEGATE_BASE=    another nodegate binary (a baseline build): runs as a fourth
#                           proxy, nodegate-base, with the same config template
#   BENCH_PORT_BASE=19000   backends on BASE+1..3, iperf3 on BASE+4; width W's variants on
#                           BASE+10*(W-1)+: nodegate 80, haproxy 81, nginx 82,
#                           nodegate-base 83, nodegate-tcp 84, haproxy-tcp 85
#   BENCH_NGINX_KEEPALIVE=64  nginx upstream `keepalive` (idle backend connections cached)
#   BENCH_NODEGATE_MAX_IDLE=  nodegate pool `max_idle` per backend (unset: its default)
#   BENCH_BACKEND=nodesim   "stub": an nginx stand-in backend (only to develop the harness)
#   BENCH_HEALTH=1          0: skip bench/health.sh (probe cost, time to removal) at the end
#   BUILD=build             where nodegate and nodesim are
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
WIDTHS=${BENCH_WIDTHS:-1 2}
DURATION=${BENCH_DURATION:-4}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-50 1000}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-1}
IDLE=${BENCH_IDLE:-10000}
L4=${BENCH_L4:-1}
L4_DURATION=${BENCH_L4_DURATION:-3}
L4_ROUNDS=${BENCH_L4_ROUNDS:-2}
L4_STREAMS=${BENCH_L4_STREAMS:-4}
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

B1=$((BASE + 1)) B2=$((BASE + 2)) B3=$((BASE + 3)) L4B=$((BASE + 4))
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

# var NAME: NAME as a shell variable name (nodegate-base-1: nodegate_base_1), for
# port_/pid_.
var() { printf '%s' "$1" | tr - _; }

# track PID: remember a started process for cleanup.
track() { PIDS="$PIDS $1"; }
untrack() {
	n=""
	for p in $PIDS; do [ "$p" = "$1" ] || n="$n $p"; done
	PIDS=$n
}

# render TEMPLATE OUT PORT WIDTH NAME: fill in a config template.
render() {
	sed -e "s|@PORT@|$3|g" -e "s|@WORKERS@|$4|g" -e "s|@NAME@|$5|g" \
		-e "s|@B1@|$B1|g" -e "s|@B2@|$B2|g" -e "s|@B3@|$B3|g" -e "s|@L4B@|$L4B|g" \
		-e "s|@DIR@|$(pwd)/$RUN|g" -e "s|@MAXCONN@|$MAXCONN|g" -e "s|@NOFILE@|$NOFILE|g" \
		-e "s|@NGX_KEEPALIVE@|$NGX_KEEPALIVE|g" -e "s|@NG_MAX_IDLE@|$NG_MAX_IDLE|g" \
		"$1" >"$2"
}

# kind_port KIND: the port offset of a proxy kind within its width's block of ten.
kind_port() {
	case $1 in
	nodegate) echo 80 ;; haproxy) echo 81 ;; nginx) echo 82 ;; nodegate-base) echo 83 ;;
	nodegate-tcp) echo 84 ;; haproxy-tcp) echo 85 ;;
	*) die "unknown proxy $1 (BENCH_PROXIES: nodegate haproxy nginx)" ;;
	esac
}

# variants KIND...: sets VS to KIND-W for every width W, width by width, and port_KIND_W.
variants() {
	VS=""
	for w in $WIDTHS; do
		for k in "$@"; do
			VS="${VS:+$VS }$k-$w"
			off=$(kind_port "$k") || exit 1
			eval "port_$(var "$k-$w")=$((BASE + off + 10 * (w - 1)))"
		done
	done
}

# ---------------------------------------------------------------- checks

TOOLS="wrk haproxy nginx"
[ "$L4" != 0 ] && TOOLS="$TOOLS iperf3"
for t in $TOOLS; do
	command -v $t >/dev/null 2>&1 || die "$t is missing (make deps-bench installs it)"
done
for w in $WIDTHS; do
	case $w in [1-9]) ;; *) die "BENCH_WIDTHS: $w is not a width from 1 to 9" ;; esac
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
case " $PROXIES " in *" nodegate-base "*)
	[ -n "$NG_BASE" ] || die "nodegate-base needs BENCH_NODEGATE_BASE" ;;
esac

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

variants $PROXIES
VARIANTS=$VS
L4_VARIANTS=""
[ "$L4" != 0 ] && variants nodegate-tcp haproxy-tcp && L4_VARIANTS=$VS
ports="$B1 $B2 $B3"
[ "$L4" != 0 ] && ports="$ports $L4B"
for p in $VARIANTS $L4_VARIANTS; do eval "ports=\"\$ports \$port_$(var "$p")\""; done
$PY bench/bench.py free $ports || exit 1

rm -rf "$RUN" && mkdir -p "$RUN"
rm -f "$RESULTS" "$OUT/warmup.jsonl" "$OUT/results.json"

# ---------------------------------------------------------------- backends

start_backends() {
	if [ "$BACKEND" = stub ]; then
		render bench/stub-nginx.conf.in "$RUN/stub.conf" 0 1 stub
		nginx -p "$(pwd)/$RUN" -c "$(pwd)/$RUN/stub.conf" -e "$(pwd)/$RUN/stub.err" \
			>"$RUN/stub.log" 2>&1 &
		track $!
		BACKEND_PIDS=$!
		for p in $B1 $B2 $B3; do
			$PY bench/bench.py ready --port "$p" --pid $! --what "stub backend" || exit 1
		done
		return
	fi
	n=1
	BACKEND_PIDS=""
	for p in $B1 $B2 $B3; do
		"$BUILD/nodesim" --listen "127.0.0.1:$p" --name "node$n" --quiet \
			>"$RUN/node$n.log" 2>&1 &
		track $!
		BACKEND_PIDS="${BACKEND_PIDS:+$BACKEND_PIDS,}$!"
		$PY bench/bench.py ready --port "$p" --pid $! --what "nodesim node$n" || exit 1
		n=$((n + 1))
	done
}

# ---------------------------------------------------------------- proxies

# start_proxy NAME-WIDTH: start a fresh NAME at that width on its port; sets pid_NAME_WIDTH.
start_proxy() {
	eval "port=\$port_$(var "$1")"
	kind=${1%-*} w=${1##*-}
	case $kind in
	nodegate | nodegate-base | nodegate-tcp)
		bin=$BUILD/nodegate
		[ "$kind" = nodegate-base ] && bin=$NG_BASE
		tpl=bench/nodegate.ini.in
		[ "$kind" = nodegate-tcp ] && tpl=bench/nodegate-tcp.ini.in
		render $tpl "$RUN/$1.ini" "$port" "$w" "$1"
		# a baseline from before `allow_root` existed: it ran as root without it
		if [ "$kind" = nodegate-base ] && ! "$bin" -t -c "$RUN/$1.ini" >/dev/null 2>&1; then
			sed -i '/^allow_root *=/d' "$RUN/$1.ini"
		fi
		# a baseline from before `workers` existed: one loop is what it has
		if [ "$kind" = nodegate-base ] && ! "$bin" -t -c "$RUN/$1.ini" >/dev/null 2>&1; then
			[ "$w" = 1 ] || die "$NG_BASE does not take workers = $w (BENCH_WIDTHS=1 for it)"
			sed -i '/^workers *=/d' "$RUN/$1.ini"
		fi
		"$bin" -c "$RUN/$1.ini" >"$RUN/$1.log" 2>&1 &
		;;
	haproxy | haproxy-tcp)
		tpl=bench/haproxy.cfg.in
		[ "$kind" = haproxy-tcp ] && tpl=bench/haproxy-tcp.cfg.in
		render $tpl "$RUN/$1.cfg" "$port" "$w" "$1"
		haproxy -db -f "$RUN/$1.cfg" >"$RUN/$1.log" 2>&1 &
		;;
	nginx)
		render bench/nginx.conf.in "$RUN/$1.conf" "$port" "$w" "$1"
		nginx -p "$(pwd)/$RUN" -c "$(pwd)/$RUN/$1.conf" -e "$(pwd)/$RUN/$1.err" \
			>"$RUN/$1.log" 2>&1 &
		;;
	esac
	pid=$!
	track $pid
	eval "pid_$(var "$1")=$pid"
	# an L4 relay is ready when it listens: a test connection would reach iperf3
	ready="--what $1"
	case $kind in *-tcp) ready="$ready --listen" ;; esac
	$PY bench/bench.py ready --port "$port" --pid "$pid" $ready ||
		{ tail -n 20 "$RUN/$1.log" >&2; exit 1; }
}

stop_proxy() {
	eval "pid=\$pid_$(var "$1")"
	kill_tree "$pid"
	untrack "$pid"
}

# rotate N WORDS...: the words rotated left N times (round r starts with variant r).
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
		--round $3 --duration $4 --threads $THREADS --backends $BACKEND_PIDS --out $5" ||
		exit 1
}

relay() { # relay NAME ROUND
	v=$(var "$1")
	eval "$PY bench/bench.py relay --name $1 --pid \$pid_$v --port \$port_$v --round $2 \
		--duration $L4_DURATION --streams $L4_STREAMS --backends $L4_PID --out $RESULTS" ||
		exit 1
}

# ---------------------------------------------------------------- run

nvariants=$(echo $VARIANTS | wc -w)
say "variants: $VARIANTS; backends: 3x $BACKEND; wrk -t$THREADS, ${DURATION}s runs," \
	"$ROUNDS rounds at $CONNS connections; $IDLE idle connections; logs in $RUN"
[ -n "$NG_BASE" ] && say "nodegate-base: $NG_BASE (git $NG_BASE_REV)"
start_backends

say "load: starting the proxies"
for p in $VARIANTS; do start_proxy "$p"; done
if [ "$WARMUP" -gt 0 ]; then
	say "load: warm-up (${WARMUP}s each, not recorded)"
	for c in $CONNS; do maxc=$c; done
	for p in $VARIANTS; do load "$p" "$maxc" 0 "$WARMUP" "$OUT/warmup.jsonl"; done
fi
r=1
while [ $r -le "$ROUNDS" ]; do
	order=$(rotate $(((r - 1) % nvariants)) $VARIANTS)
	say "load: round $r of $ROUNDS ($order)"
	for c in $CONNS; do
		for p in $order; do
			load "$p" "$c" "$r" "$DURATION" "$RESULTS"
			sleep 0.5
		done
	done
	r=$((r + 1))
done
for p in $VARIANTS; do stop_proxy "$p"; done

if [ -n "$L4_VARIANTS" ]; then
	say "l4: iperf3 -P $L4_STREAMS through each relay (${L4_DURATION}s runs, $L4_ROUNDS rounds)"
	iperf3 -s -B 127.0.0.1 -p "$L4B" >"$RUN/iperf3.log" 2>&1 &
	L4_PID=$!
	track $L4_PID
	$PY bench/bench.py ready --port "$L4B" --pid $L4_PID --what "iperf3 server" --listen ||
		exit 1
	for p in $L4_VARIANTS; do start_proxy "$p"; done
	nl4=$(echo $L4_VARIANTS | wc -w)
	r=1
	while [ $r -le "$L4_ROUNDS" ]; do
		order=$(rotate $(((r - 1) % nl4)) $L4_VARIANTS)
		say "l4: round $r of $L4_ROUNDS ($order)"
		for p in $order; do
			relay "$p" "$r"
			sleep 0.5
		done
		r=$((r + 1))
	done
	for p in $L4_VARIANTS; do stop_proxy "$p"; done
	kill_tree $L4_PID
	untrack $L4_PID
fi

if [ "$IDLE" -gt 0 ]; then
	say "idle: $IDLE keep-alive connections to a fresh instance of each variant"
	for p in $VARIANTS; do
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
	--meta "widths=$WIDTHS" --meta "proxies=$PROXIES" \
	--meta "rounds=$ROUNDS" --meta "duration=$DURATION" --meta "conns=$CONNS" \
	--meta "wrk_threads=$THREADS" --meta "idle_conns=$IDLE" --meta "backend=$BACKEND" \
	--meta "l4_duration=$L4_DURATION" --meta "l4_rounds=$L4_ROUNDS" \
	--meta "l4_streams=$L4_STREAMS" \
	--meta "nginx_keepalive=$NGX_KEEPALIVE" --meta "nofile=$NOFILE" \
	--meta "nodegate_max_idle=${BENCH_NODEGATE_MAX_IDLE:-default}" \
	--meta "cpus=$(nproc)" --meta "kernel=$(uname -r)" \
	--meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--meta "git=$(git rev-parse --short HEAD 2>/dev/null || echo none)" \
	${NG_BASE:+--meta "nodegate_base=$NG_BASE ($NG_BASE_REV)"} \
	--meta "haproxy=$(haproxy -v 2>/dev/null | head -n 1)" \
	--meta "nginx=$(nginx -v 2>&1)" --meta "wrk=$(wrk -v 2>&1 | head -n 1)" \
	--meta "iperf3=$(iperf3 --version 2>/dev/null | head -n 1)"

# The health engine: what probing 1000 backends costs, and how fast a failed node leaves
# rotation (bench/health.sh; its settings are BENCH_HEALTH_*). BENCH_HEALTH=0 skips it.
if [ "${BENCH_HEALTH:-1}" != 0 ]; then
	echo
	say "health: probe cost and time to removal (bench/health.sh)"
	sh bench/health.sh || exit 1
fi
