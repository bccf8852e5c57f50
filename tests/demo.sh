#!/bin/sh
# The demo (`make run`): nodegate in front of three simulated rippled nodes (nodesim), with
# the addresses of etc/demo.ini. nodegate runs until Ctrl-C, which also stops the nodes.
set -u

BUILD=${BUILD:-build}
NODEGATE=$BUILD/nodegate
NODESIM=$BUILD/nodesim
CONF=etc/demo.ini
HOST=127.0.0.1
NODE2_SCRIPT=healthy:40s,warning:6s,critical:4s,healthy:30s
# Every port the demo needs: the nodes' JSON-RPC and peer ports, then nodegate's listeners.
PORTS="5005 5006 5007 15235 15236 15237 8080 8081 8404"

die() {
	echo "demo: $*" >&2
	exit 1
}

cd "$(dirname "$0")/.." || exit 1
. tests/demo-nodes.sh # wait_ready, start_node, demo_nodes
for bin in "$NODEGATE" "$NODESIM"; do
	[ -x "$bin" ] || die "$bin is missing; run 'make all'"
done
command -v openssl >/dev/null 2>&1 || die "the openssl command is missing (apt-get install openssl)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nodegate-demo.XXXXXX") || die "cannot make a temporary directory"

pids=
cleanup() {
	trap - EXIT INT TERM
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# port_free PORT: binds HOST:PORT with a throwaway nodesim, which tells whether it is taken.
port_free() {
	"$NODESIM" --listen "$HOST:$1" --name probe --quiet >"$tmp/probe-$1.out" 2>/dev/null &
	probe=$!
	wait_ready "$tmp/probe-$1.out" "$1" "$probe" "a port probe" || { wait "$probe"; return 1; }
	kill "$probe" && wait "$probe"
	return 0
}

taken=
for port in $PORTS; do
	port_free "$port" || taken="$taken $port"
done
[ -z "$taken" ] || die "port(s)$taken on $HOST already in use (ss -tanp shows by what)"

demo_nodes

cat <<EOF

nodegate demo: three simulated rippled nodes behind nodegate ($CONF)
  node1  JSON-RPC $HOST:5005  peer $HOST:15235
  node2  JSON-RPC $HOST:5006  peer $HOST:15236  cycles: $NODE2_SCRIPT
  node3  JSON-RPC $HOST:5007  peer $HOST:15237

Status page: http://$HOST:8404/   (also /api/status, /api/incidents, /metrics, /healthz)

Try in another terminal:
  curl -s -d '{"method":"server_info","params":[{}]}' http://$HOST:8080/
  curl -s http://$HOST:8080/sim/headers                 (what reached the node)
  curl -s -d '{"method":"ping"}' http://$HOST:8081/     (the TCP listener)
  curl -sk https://$HOST:15236/health                   (node2's own health, as rippled serves it)
  curl -s -d '{"state":"critical"}' http://$HOST:5007/sim/health   (break node3; "healthy" mends it)

Ctrl-C stops nodegate and the nodes.

EOF

"$NODEGATE" -c "$CONF" &
gate=$!
pids="$pids $gate"
wait "$gate"
