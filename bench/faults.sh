#!/bin/sh
# Faults under load (not a test): three nodesim backends behind nodegate, wrk JSON-RPC
# server_info reads on keep-alive connections, and one of these faults while it runs:
#   kill   every FAULT_EVERY seconds one node in turn is SIGKILLed, restarted 2 s later
#   freeze one node is SIGSTOPped for FAULT_FREEZE seconds, then SIGCONTed
#   none   no fault (the healthy baseline, same load)
# Prints wrk's rate, p99 and the failed reads (non-2xx answers, socket errors, timeouts).
# Every process runs on 127.0.0.1 and is stopped on exit; the load is bounded in time.
#
# Usage: sh bench/faults.sh [none|kill|freeze]...   (default: none kill freeze)
# Settings: FAULT_DURATION=20 (s of load), FAULT_CONNS=50, FAULT_EVERY=5, FAULT_FREEZE=5,
#           FAULT_CHECK=tcp|http, FAULT_CHECK_INTERVAL=1s, FAULT_PORT_BASE=19200, BUILD=build
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
DURATION=${FAULT_DURATION:-20}
CONNS=${FAULT_CONNS:-50}
EVERY=${FAULT_EVERY:-5}
FREEZE=${FAULT_FREEZE:-5}
BASE=${FAULT_PORT_BASE:-19200}
CHECK=${FAULT_CHECK:-tcp}
CHECK_INTERVAL=${FAULT_CHECK_INTERVAL:-1s}
OUT=bench/out/faults
PIDS=""

die() { printf 'faults: %s\n' "$*" >&2; exit 1; }
cleanup() {
	for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT INT TERM

[ -x "$BUILD/nodegate" ] && [ -x "$BUILD/nodesim" ] || die "build first (make)"
command -v wrk >/dev/null || die "wrk is missing (make deps-bench)"
mkdir -p "$OUT"

# start_node I: nodesim nI on BASE+I, its pid in NODE_I
start_node() {
	"$BUILD/nodesim" --listen "127.0.0.1:$((BASE + $1))" --name "n$1" --quiet \
		>>"$OUT/n$1.log" 2>&1 &
	eval "NODE_$1=$!"
	PIDS="$PIDS $!"
}

# wait_port PORT...: until each accepts a connection (5 s at most each)
wait_port() {
	/usr/bin/python3 -c '
import socket, sys, time
for port in map(int, sys.argv[1:]):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit(1)
' "$@" || die "a port never opened: $*"
}

run_case() {
	fault=$1
	PIDS=""
	for i in 1 2 3; do start_node $i; done
	sed -e "s/@PORT@/$((BASE + 80))/" -e "s/@MAXCONN@/10000/" -e "s/@NG_MAX_IDLE@//" \
		-e "s/@B1@/$((BASE + 1))/" -e "s/@B2@/$((BASE + 2))/" -e "s/@B3@/$((BASE + 3))/" \
		bench/nodegate.ini.in >"$OUT/nodegate.ini"
	# the pool's health check (FAULT_CHECK): tcp by default, or http on nodesim's /sim/headers
	sed -i "s|^\[pool rpc\]|[pool rpc]\ncheck = $CHECK\ncheck_interval = ${CHECK_INTERVAL}\ncheck_path = /sim/headers|" \
		"$OUT/nodegate.ini"
	"$BUILD/nodegate" -c "$OUT/nodegate.ini" >>"$OUT/nodegate.log" 2>&1 &
	NG=$!
	PIDS="$PIDS $NG"
	wait_port $((BASE + 1)) $((BASE + 2)) $((BASE + 3)) $((BASE + 80))
	sleep 1 # probes judge the nodes
	wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s bench/rpc.lua \
		"http://127.0.0.1:$((BASE + 80))/" >"$OUT/wrk-$fault.txt" 2>&1 &
	WRK=$!
	case $fault in
	kill)
		t=0 n=1
		while [ $((t + EVERY)) -lt "$DURATION" ]; do
			sleep "$EVERY"
			t=$((t + EVERY))
			eval "kill -KILL \$NODE_$n"
			sleep 2
			t=$((t + 2))
			start_node $n
			n=$((n % 3 + 1))
		done
		;;
	freeze)
		sleep 3
		kill -STOP "$NODE_2"
		sleep "$FREEZE"
		kill -CONT "$NODE_2"
		;;
	esac
	wait $WRK
	line=$(grep '^BENCH_RESULT' "$OUT/wrk-$fault.txt" | sed 's/^BENCH_RESULT //')
	non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$OUT/wrk-$fault.txt")
	/usr/bin/python3 - "$fault" "$line" "${non2xx:-0}" <<'EOF'
import json, sys
fault, r, non2xx = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
errs = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] + non2xx
print(f"faults: {fault:6s} {r['requests'] / (r['duration_us'] / 1e6):9.0f} req/s  "
      f"p99 {r['p99_us'] / 1000:8.1f} ms  max {r['max_us'] / 1000:8.1f} ms  "
      f"failed {errs} of {r['requests']} (non-2xx {non2xx}, socket {errs - non2xx})")
EOF
	cleanup
	PIDS=""
}

for f in ${*:-none kill freeze}; do
	case $f in none | kill | freeze) run_case "$f" ;; *) die "unknown fault $f" ;; esac
done
