#!/bin/sh
# The fleet demo (`make run-fleet`): two nodegates, fra-1 and ams-1, on one PostgreSQL store,
# in front of the three simulated rippled nodes of `make run` (etc/demo.ini, its ports moved
# for each instance). PostgreSQL is Debian's, started for the demo by an unprivileged user
# (nobody when run as root) in a temporary folder, on a unix socket only; Ctrl-C stops all.
set -u

BUILD=${BUILD:-build}
NODEGATE=$BUILD/nodegate
NODESIM=$BUILD/nodesim
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
HOST=127.0.0.1
PGPORT=5439
NODE2_SCRIPT=healthy:40s,warning:6s,critical:4s,healthy:30s
TOKEN=demo-fleet-token

die() {
	echo "demo-fleet: $*" >&2
	exit 1
}

cd "$(dirname "$0")/.." || exit 1
. tests/demo-nodes.sh # wait_ready, start_node, demo_nodes
for bin in "$NODEGATE" "$NODESIM" "$PGBIN/initdb" "$PGBIN/pg_ctl"; do
	[ -x "$bin" ] || die "$bin is missing; run 'make deps all'"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nodegate-fleet.XXXXXX") || die "cannot make a temporary directory"
chmod 755 "$tmp"

# as_pg CMD...: PostgreSQL's commands as an unprivileged user (it refuses root)
if [ "$(id -u)" = 0 ]; then
	chown nobody "$tmp"
	as_pg() { runuser -u nobody -- "$@"; }
else
	as_pg() { "$@"; }
fi

pids=
cleanup() {
	trap - EXIT INT TERM
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	[ -f "$tmp/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$tmp/pg" -m fast -w stop >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "demo-fleet: PostgreSQL in $tmp/pg (unix socket $tmp/.s.PGSQL.$PGPORT)"
as_pg "$PGBIN/initdb" -D "$tmp/pg" -U nodegate --auth=trust -E UTF8 --locale=C --no-sync \
	>"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log"; die "initdb failed"; }
cat >>"$tmp/pg/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$tmp'
port = $PGPORT
EOF
as_pg "$PGBIN/pg_ctl" -D "$tmp/pg" -l "$tmp/postgres.log" -w start >/dev/null ||
	{ cat "$tmp/postgres.log"; die "PostgreSQL did not start"; }
URL="postgresql:///postgres?host=$tmp&port=$PGPORT&user=nodegate"

# the nodes of `make run`: tests/demo.sh's configuration and ports
demo_nodes

# conf NAME RPC TCP STATUS: etc/demo.ini for one instance of the fleet
echo "$TOKEN" >"$tmp/admin.token"
conf() {
	sed -e "s/^bind = 127.0.0.1:8080/bind = 127.0.0.1:$2/" \
		-e "s/^bind = 127.0.0.1:8081/bind = 127.0.0.1:$3/" \
		-e "s/^bind = 127.0.0.1:8404/bind = 127.0.0.1:$4\nadmin_token_file = $(echo "$tmp" | sed 's/\//\\\//g')\/admin.token/" \
		-e "s/^state_dir = state/state_dir = $(echo "$tmp" | sed 's/\//\\\//g')\/$1/" \
		-e "s/^access_log = -/access_log = off\ninstance = $1/" \
		-e "s/^title = \(.*\)/title = \1 ($1)/" etc/demo.ini >"$tmp/$1.ini"
	printf '\n[store]\nurl = %s\n' "$URL" >>"$tmp/$1.ini"
}
conf fra-1 8180 8181 8504
conf ams-1 8280 8281 8604

cat <<EOF

nodegate fleet demo: fra-1 and ams-1 on one PostgreSQL, in front of three simulated nodes
  fra-1  JSON-RPC $HOST:8180  TCP $HOST:8181  status http://$HOST:8504/
  ams-1  JSON-RPC $HOST:8280  TCP $HOST:8281  status http://$HOST:8604/
  node2 cycles: $NODE2_SCRIPT

Try in another terminal:
  curl -s -X POST -H 'Authorization: Bearer $TOKEN' http://$HOST:8504/api/backends/node3/drain
  curl -s -H 'Authorization: Bearer $TOKEN' http://$HOST:8604/api/backends   (ams-1 drains it too)
  curl -s -X POST -H 'Authorization: Bearer $TOKEN' http://$HOST:8604/api/backends/node3/ready
  curl -s http://$HOST:8504/metrics | grep -E 'nodegate_(fleet|store)_'      (who is the sender)
  kill -9 \$(pgrep -f 'nodegate -c $tmp/fra-1.ini')   (ams-1 takes over, if fra-1 was the sender)

Ctrl-C stops the nodegates, the nodes and PostgreSQL.

EOF

# each log in its file, both shown here (tail names the instance before its lines)
for name in fra-1 ams-1; do
	"$NODEGATE" -c "$tmp/$name.ini" >"$tmp/$name.log" 2>&1 &
	pids="$pids $!"
done
tail -n +1 -f "$tmp/fra-1.log" "$tmp/ams-1.log" &
pids="$pids $!"
wait
