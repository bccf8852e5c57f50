#!/bin/sh
# The health engine's benchmark: what probing 1000 backends once a second costs nodegate
# (CPU, memory), and how long a failed node stays in rotation. Run from anywhere;
# `make bench` runs it after bench/run.sh. Method and output: bench/README.md, "Health
# checks". The work is done by bench/health.py; this wrapper checks the tools and stops
# it (and, through it, everything it started) on exit, Ctrl-C included.
#
# Settings (environment):
#   BENCH_HEALTH_BACKENDS=1000   backends for the probe cost
#   BENCH_HEALTH_SIMS=4          nodesims serving them (backend i uses nodesim i mod N)
#   BENCH_HEALTH_CHECKS="none rippled rippled-13 rippled-ka tcp"   checks measured (none: the
#                                baseline; rippled-13: check_tls_max_version = 1.3;
#                                rippled-ka: nodesims whose peer port keeps connections)
#   BENCH_HEALTH_WARMUP=5        seconds before the CPU sample (2 at most for none)
#   BENCH_HEALTH_SAMPLE=10       seconds of the CPU sample
#   BENCH_HEALTH_KILLS=5         SIGKILLs under load (0: skip)
#   BENCH_HEALTH_KILLS_IDLE=3    SIGKILLs without load (0: skip)
#   BENCH_HEALTH_WARNS=5         nodes turned warning under load (0: skip)
#   BENCH_HEALTH_CONNS=50        wrk connections
#   BENCH_HEALTH_THREADS=2       wrk threads
#   BENCH_HEALTH_PRE=2           seconds of load before the failure
#   BENCH_HEALTH_POST=3          seconds of load after it
#   BENCH_HEALTH_KEY=rsa         peer certificate key: rsa (2048, as rippled) or ec (P-256)
#   BENCH_HEALTH_PORT=BENCH_PORT_BASE+180 (19180)  nodegate's listener
#   BENCH_HEALTH_OUT=bench/out   health.json and the health/ folder (configs, logs) go here
#   BUILD=build                  where nodegate and nodesim are
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
PY=/usr/bin/python3
PID=""

die() { printf '%s\n' "health: $*" >&2; exit 1; }

for t in wrk openssl; do
	command -v $t >/dev/null 2>&1 || die "$t is missing (make deps-bench, make deps)"
done
[ -x "$PY" ] || die "$PY is missing"
for b in nodegate nodesim; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is missing (make all)"
done
$PY bench/bench.py free "${BENCH_HEALTH_PORT:-$((${BENCH_PORT_BASE:-19000} + 180))}" || exit 1

# 1000 backends: nodegate holds a socket per probe in flight, a nodesim one per connection
n=$(ulimit -n)
if [ "$n" != unlimited ] && [ "$n" -lt 8192 ]; then
	ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi

# cleanup: health.py stops its children on SIGTERM; they also die with it (PDEATHSIG).
cleanup() {
	[ -n "$PID" ] || return 0
	if kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null
		i=0
		while [ $i -lt 100 ] && kill -0 "$PID" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$PID" 2>/dev/null
	fi
	wait "$PID" 2>/dev/null
	PID=""
}
trap cleanup EXIT
trap 'echo "health: interrupted" >&2; exit 130' INT TERM HUP

BUILD=$BUILD $PY bench/health.py &
PID=$!
wait "$PID"
rc=$?
PID=""
exit $rc
