#!/usr/bin/env bash
# errant-gtids.sh — fails when a replica holds a GTID of its own server id:
# a write ran on it, which would stop its replication when the primary's
# transaction with the same sequence number arrives. make test runs it on
# the test topology's replicas after the whole suite.
#
#   scripts/errant-gtids.sh HOST:PORT...
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
bad=0
for addr in "$@"; do
	host=${addr%:*} port=${addr##*:}
	read -r id state < <(mariadb -h"$host" -P"$port" -uroot -N -B -e 'SELECT @@server_id, @@gtid_binlog_state')
	own=$(tr ',' '\n' <<<"${state:-}" | awk -F- -v id="$id" 'NF == 3 && $2 == id')
	if [ -n "$own" ]; then
		echo "errant-gtids: replica $addr (server_id $id) has GTIDs of its own: $own" >&2
		bad=1
	else
		echo "errant-gtids: replica $addr (server_id $id): none"
	fi
done
exit "$bad"
