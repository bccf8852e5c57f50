# Sourced by tests/demo.sh and tests/demo-fleet.sh (from the top of the tree): functions
# that use their HOST, NODESIM, NODE2_SCRIPT, tmp, pids and die.

# wait_ready FILE PORT PID WHAT: until nodesim's "listening on HOST:PORT" line is in FILE;
# fails if PID exits.
wait_ready() {
	i=0
	while ! grep -q " listening on $HOST:$2\$" "$1" 2>/dev/null; do
		kill -0 "$3" 2>/dev/null || return 1
		i=$((i + 1))
		[ "$i" -lt 100 ] || die "$4 did not start within 10 s"
		sleep 0.1
	done
}

# start_node NAME RPC_PORT PEER_PORT [ARGS]: state changes show on this terminal.
start_node() {
	name=$1 rpc=$2 peer=$3
	shift 3
	"$NODESIM" --listen "$HOST:$rpc" --name "$name" --peer "$HOST:$peer" \
		--cert "$tmp/cert.pem" --key "$tmp/key.pem" "$@" >"$tmp/$name.out" &
	pids="$pids $!"
	wait_ready "$tmp/$name.out" "$rpc" "$!" "nodesim $name" || die "nodesim $name exited (see above)"
}

# demo_nodes: the peer ports' self-signed certificate and the three simulated rippled nodes
# (RPC 5005-5007, peer 15235-15237; node2 follows NODE2_SCRIPT).
demo_nodes() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
		-subj /CN=nodesim -addext "subjectAltName=IP:$HOST,DNS:localhost" \
		-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 ||
		die "openssl could not make the peer ports' self-signed certificate"
	start_node node1 5005 15235
	start_node node2 5006 15236 --script "$NODE2_SCRIPT"
	start_node node3 5007 15237
}
