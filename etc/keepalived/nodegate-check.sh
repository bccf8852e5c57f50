#!/bin/sh
# keepalived's check of the nodegate on this host (vrrp_script in keepalived.conf): exits 0
# when GET /healthz on nodegate's status listener answers 200, that is while some pool can
# serve a request; 503 (no pool can serve, or nodegate is shutting down), a refused
# connection or no answer within the timeout exits non-zero and keepalived gives the
# floating address to the peer.
#   nodegate-check.sh [URL] [TIMEOUT_SECONDS]
url=${1:-http://127.0.0.1:8404/healthz}
timeout=${2:-1}
exec /usr/bin/curl --fail --silent --show-error --max-time "$timeout" --output /dev/null \
	--noproxy '*' "$url"
