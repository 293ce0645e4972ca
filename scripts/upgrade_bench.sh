#!/bin/sh
# Throughput of sysbench oltp_read_write through a running switchyard while
# it upgrades itself (docs/BENCHMARKS.md, "Upgrade under load").
#
#   scripts/upgrade_bench.sh PROXY_PORT ADMIN_ADDR [SECONDS] [UPGRADE_AT...]
#
# The sysbench tables (test.sbtest1..4, 20000 rows) must exist: prepare them
# on the primary with the same --tables/--table-size. The admin token, if
# any, comes from $SWITCHYARD_ADMIN_TOKEN. Prints sysbench's per-second
# report and summary, then each upgrade's answer.
set -eu
port=$1 admin=$2 secs=${3:-30}
shift 2; [ $# -gt 0 ] && shift
ats=${*:-10}
bin=${SWITCHYARD_BIN:-switchyard}
out=$(mktemp -d)
(
  prev=0
  for at in $ats; do
    sleep $((at - prev)); prev=$at
    "$bin" upgrade --admin "$admin" >>"$out/upgrades" 2>&1 || echo "upgrade at ${at}s FAILED" >>"$out/upgrades"
  done
) &
sysbench oltp_read_write --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user=app --mysql-password=app \
  --mysql-db=test --tables=4 --table-size=20000 --threads=16 --time="$secs" --report-interval=1 run
wait
echo "--- upgrades (at ${ats}s):"
cat "$out/upgrades"
rm -rf "$out"
