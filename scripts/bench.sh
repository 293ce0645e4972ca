#!/usr/bin/env bash
# bench.sh — `make bench`: measure Switchyard against MariaDB direct and
# HAProxy (TCP mode) on one machine in one run, and write docs/BENCHMARKS.md.
#
# It brings up a MariaDB topology (scripts/topology.sh), HAProxy from
# Debian's package on 127.0.0.1:6034 forwarding to the primary (and its read
# port over the replicas), and Switchyard on 127.0.0.1:6033; sweeps point
# selects (text and prepared) and the read-write mix over client connection
# counts (BENCH_SWEEP) with bin/switchyard-bench against direct / haproxy /
# switchyard interleaved and draws the curve (docs/bench-sweep.svg); runs
# oltp_point_select with sysbench at the same counts as the outside check;
# measures where one server alone is fastest (the default of
# pool.max_active_per_backend); runs the rest of the suite at BENCH_CONNS;
# and writes the tables, the ratios, the machine and the exact commands. Everything it started is stopped at the end, by PID, also on
# failure or Ctrl-C. If Switchyard does not build or start, it says so and
# benchmarks the others.
#
# Environment (defaults in brackets):
#   BENCH_QUICK=1            a ~2 minute smoke run instead of the full suite
#   BENCH_DURATION [5s]      measured time per round
#   BENCH_ROUNDS [2]         rounds per scenario and target, interleaved
#   BENCH_WARMUP [1s]        unmeasured load before each round
#   BENCH_SWEEP [8,32,128,256,1000]  client connection counts of the sweep
#   BENCH_SWEEP_SCENARIOS [point_select,point_select_prepared,read_write,read_write_autocommit]
#   BENCH_SERVER_CURVE ["8 16 32 64 128 256"]  sysbench thread counts run
#                            directly against one replica ("" skips it)
#   BENCH_CHART [docs/bench-sweep.svg]  the sweep's chart
#   BENCH_CONNS [32]         client connections of the rest of the suite
#   BENCH_SCENARIOS [read_only,connect_storm,large_result,idle_conns,failover]
#                            switchyard-bench --scenarios of the rest of the suite
#   BENCH_IO_MODELS=1        also measure the I/O-model floors at BENCH_CONNS:
#                            go-relay, go-epoll, evproto and switchyard-1p (below)
#   BENCH_IDLE_CONNS [10000] idle_conns connections
#   BENCH_LARGE_BYTES [1073741824]  large_result size
#   BENCH_TABLES [4] BENCH_TABLE_SIZE [10000]
#   BENCH_SYSBENCH_TIME [8]  seconds per sysbench run; 0 skips sysbench
#   BENCH_KILL_PRIMARY=1     make the failover drill real: kill -9 the primary
#                            during the drill against switchyard only (last)
#   BENCH_KILL_CMD           or any kill command for the drill ("" = none)
#   BENCH_FRESH=1            recreate the topology from scratch first (done
#                            anyway after a run with BENCH_KILL_PRIMARY=1)
#   BENCH_OUT [docs/BENCHMARKS.md]
#   BENCH_BASEDIR [.topology/bench]  BENCH_PORTS ["3411 3412 3413"]
#   BENCH_HAPROXY_PORT [6034] BENCH_SWITCHYARD_PORT [6033] BENCH_ADMIN_PORT [9091]
#   BENCH_HAPROXY_READ_PORT [BENCH_HAPROXY_PORT+4]  HAProxy's read port
#                            (target haproxy-read: leastconn over the two
#                            replicas, reads only)
#   BENCH_RELAY_PORT [BENCH_HAPROXY_PORT+5]  bin/tcprelay over the replicas
#                            (target go-relay, reads only): the floor of a
#                            goroutine-per-connection Go proxy
#   BENCH_EPOLL_PORT [BENCH_HAPROXY_PORT+6]  bin/tcprelay --loops NCPU over
#                            the replicas (target go-epoll, reads only): the
#                            same relay on epoll event loops, as HAProxy runs
#   BENCH_EVPROTO_PORT [BENCH_HAPROXY_PORT+7]  bin/evproto (target evproto,
#                            point_select only, after the suite): Switchyard's
#                            per-statement work on epoll loops, a prototype
#   BENCH_ONE_PROC [BENCH_IO_MODELS]  also run a second Switchyard with GOMAXPROCS=1
#                            (target switchyard-1p on BENCH_SWITCHYARD_PORT+2,
#                            admin BENCH_ADMIN_PORT+1): on a machine the proxy
#                            shares with the database and the clients, one
#                            scheduler thread costs less CPU per query
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd -P)"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { echo "bench: $*" >&2; }
die() {
	echo "bench: ERROR: $*" >&2
	exit 1
}

# ---- settings ----------------------------------------------------------------

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${BENCH_DURATION:=2s}" "${BENCH_ROUNDS:=1}" "${BENCH_WARMUP:=500ms}"
	: "${BENCH_IDLE_CONNS:=1000}" "${BENCH_LARGE_BYTES:=67108864}" "${BENCH_SYSBENCH_TIME:=3}"
	: "${BENCH_FAILOVER_WARMUP:=1s}" "${BENCH_FAILOVER_SETTLE:=1s}"
	: "${BENCH_SWEEP:=8,32,256,1000}"
	: "${BENCH_SCENARIOS:=read_only,connect_storm,large_result,idle_conns,failover}"
fi
DURATION="${BENCH_DURATION:-5s}"
ROUNDS="${BENCH_ROUNDS:-2}"
WARMUP="${BENCH_WARMUP:-1s}"
CONNS="${BENCH_CONNS:-32}"
SCENARIOS="${BENCH_SCENARIOS:-read_only,connect_storm,large_result,idle_conns,failover}"
SWEEP="${BENCH_SWEEP:-8,32,128,256,1000}"
SWEEP_SCENARIOS="${BENCH_SWEEP_SCENARIOS:-point_select,point_select_prepared,read_write,read_write_autocommit}"
SERVER_CURVE="${BENCH_SERVER_CURVE-8 16 32 64 128 256}"
CHART="${BENCH_CHART:-docs/bench-sweep.svg}"
IO_MODELS="${BENCH_IO_MODELS:-0}"
# The most client connections any run opens: direct and HAProxy pass each
# through as a server connection.
MAX_CONNS="$CONNS"
for n in ${SWEEP//,/ } $SERVER_CURVE; do
	[ "$n" -le "$MAX_CONNS" ] || MAX_CONNS="$n"
done
IDLE_CONNS="${BENCH_IDLE_CONNS:-10000}"
LARGE_BYTES="${BENCH_LARGE_BYTES:-1073741824}"
TABLES="${BENCH_TABLES:-4}"
TABLE_SIZE="${BENCH_TABLE_SIZE:-10000}"
SB_TIME="${BENCH_SYSBENCH_TIME:-8}"
FO_WARMUP="${BENCH_FAILOVER_WARMUP:-3s}"
FO_SETTLE="${BENCH_FAILOVER_SETTLE:-3s}"
OUT="${BENCH_OUT:-docs/BENCHMARKS.md}"
BASE="${BENCH_BASEDIR:-.topology/bench}"
read -r -a PORTS <<<"${BENCH_PORTS:-3411 3412 3413}"
HA_PORT="${BENCH_HAPROXY_PORT:-6034}"
HA_READ_PORT="${BENCH_HAPROXY_READ_PORT:-$((HA_PORT + 4))}"
RELAY_PORT="${BENCH_RELAY_PORT:-$((HA_PORT + 5))}"
EPOLL_PORT="${BENCH_EPOLL_PORT:-$((HA_PORT + 6))}"
EVP_PORT="${BENCH_EVPROTO_PORT:-$((HA_PORT + 7))}"
SY_PORT="${BENCH_SWITCHYARD_PORT:-6033}"
ADMIN_PORT="${BENCH_ADMIN_PORT:-9091}"
ONE_PROC="${BENCH_ONE_PROC:-$IO_MODELS}"
SY1_PORT=$((SY_PORT + 2))
SY1_ADMIN_PORT=$((ADMIN_PORT + 1))
READY_TIMEOUT=30 # seconds for haproxy or switchyard to answer after launch
STOP_TIMEOUT=10  # seconds for a process to exit after SIGTERM

[ "${#PORTS[@]}" = 3 ] || die "BENCH_PORTS must hold three ports"
mkdir -p "$BASE"
BASE="$(cd "$BASE" && pwd -P)"
# A real kill drill leaves the topology changed (a dead or promoted
# primary); the marker makes the next run start from a fresh one.
if [ "${BENCH_FRESH:-0}" = 1 ] || [ -e "$BASE/killed-by-bench" ]; then
	log "recreating the topology in $BASE from scratch"
	scripts/topology.sh stop "$BASE" >&2
	rm -rf "$BASE"
	mkdir -p "$BASE"
fi
WORK="$BASE/run"
rm -rf "$WORK"
mkdir -p "$WORK"

# ---- cleanup: only what this script started, by PID --------------------------

HA_PID=""
RELAY_PID=""
EPOLL_PID=""
EVP_PID=""
SY_PID=""
SY1_PID=""
TOPO_STARTED=0

stop_pid() { # NAME PID
	local name=$1 pid=$2 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	log "stopped $name (pid $pid)"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid switchyard "$SY_PID"
	stop_pid switchyard-1p "$SY1_PID"
	stop_pid haproxy "$HA_PID"
	stop_pid go-relay "$RELAY_PID"
	stop_pid go-epoll "$EPOLL_PID"
	stop_pid evproto "$EVP_PID"
	if [ "$TOPO_STARTED" = 1 ]; then
		scripts/topology.sh stop "$BASE" || log "topology stop failed (exit $?)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools -------------------------------------------------------------------

ensure_pkg() { # COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "$1 not found: install the Debian package $2"
	log "$1 not found; installing $2 with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get -q -o DPkg::Lock::Timeout=300 update &&
		apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "$2"; } >&2 ||
		die "apt-get install $2 failed"
	command -v "$1" >/dev/null 2>&1 || die "$2 installed but $1 is still missing"
}
ensure_pkg haproxy haproxy
[ "$SB_TIME" = 0 ] || ensure_pkg sysbench sysbench
command -v go >/dev/null 2>&1 || die "go not found"

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
# The revision the binaries are built from, taken now: the tree may change
# while the suite runs.
REV="$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")"
[ -z "$(git status --porcelain 2>/dev/null | head -n1)" ] || REV="$REV (with uncommitted changes)"
mkdir -p bin
log "building bin/switchyard-bench"
go build -o bin/switchyard-bench ./cmd/switchyard-bench
go build -o bin/tcprelay ./bench/cmd/tcprelay
go build -o bin/evproto ./bench/cmd/evproto
SY_BUILD_OK=1
log "building bin/switchyard"
if ! go build -o bin/switchyard ./cmd/switchyard 2>"$WORK/switchyard-build.log"; then
	SY_BUILD_OK=0
	cat "$WORK/switchyard-build.log" >&2
fi

# ---- topology ----------------------------------------------------------------

if scripts/topology.sh status "$BASE" >/dev/null 2>&1; then
	log "topology in $BASE is already running; it will be left running"
else
	TOPO_STARTED=1
fi
# One retry: a failed start stops what it launched, and a second start
# cleans up what the first left behind (seen once: a server whose pid file
# was checked before mariadbd had replaced the forked shell).
if ! scripts/topology.sh start "$BASE" "${PORTS[@]}" >&2; then
	log "topology start failed; retrying once"
	scripts/topology.sh start "$BASE" "${PORTS[@]}" >&2 || die "the topology does not start (see above)"
fi
PRIMARY_PID="$(tr -dc '0-9' <"$BASE/db1/mariadbd.pid")"

sql() { # PORT SQL
	mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$1" --user=root \
		--connect-timeout=5 --batch --skip-column-names -e "$2"
}

# idle_conns holds IDLE_CONNS connections through direct and HAProxy, and
# the sweep up to MAX_CONNS, each a server connection: lift the topology's
# max_connections (500) at runtime on all three servers (a proxy may open
# connections to the replicas too), and their open-file limit with prlimit
# where it is too low.
IDLE_WANTED="$IDLE_CONNS"
IDLE_NOTE=""
case ",$SCENARIOS," in
*,default,* | *,all,* | *,idle_conns,*) RUN_IDLE=1 ;;
*) RUN_IDLE=0 ;;
esac
# HAProxy needs two descriptors per connection (client and server side) and
# cannot go past the hard open-file limit (raising it takes CAP_SYS_RESOURCE):
# when that cannot hold IDLE_CONNS, every target gets the count that fits so
# they stay comparable, and Switchyard is also run alone at the full count.
HARD_NOFILE="$(ulimit -Hn)"
if [ "$RUN_IDLE" = 1 ] && [ "$HARD_NOFILE" != unlimited ]; then
	fit=$(((HARD_NOFILE - 100) / 2 - 2 * MAX_CONNS - 100))
	if [ "$IDLE_CONNS" -gt "$fit" ]; then
		IDLE_CONNS="$fit"
		IDLE_NOTE="idle_conns runs $IDLE_CONNS connections, not $IDLE_WANTED: the open-file hard limit here is $HARD_NOFILE and HAProxy needs two descriptors per connection"
		log "$IDLE_NOTE"
	fi
fi
want=$((2 * MAX_CONNS + 200))
[ "$RUN_IDLE" = 0 ] || want=$((want + IDLE_WANTED))
if [ "$want" -gt 500 ]; then
	for i in 0 1 2; do
		pidf="$BASE/db$((i + 1))/mariadbd.pid"
		pid="$(tr -dc '0-9' <"$pidf")"
		soft="$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")"
		if [ "$soft" != unlimited ] && [ "$soft" -lt $((want + 500)) ]; then
			prlimit --pid "$pid" --nofile="$((want + 500)):$((want + 500))" 2>/dev/null ||
				log "db$((i + 1)) (pid $pid) may open only $soft files; idle_conns or the sweep through it may fail"
		fi
		sql "${PORTS[$i]}" "SET GLOBAL max_connections = $want" ||
			log "could not raise max_connections on db$((i + 1))"
		# Prepared point selects at 1,000 connections prepare 4 statements
		# each, per server connection: past the default of 16,382.
		sql "${PORTS[$i]}" "SET GLOBAL max_prepared_stmt_count = 1048576" ||
			log "could not raise max_prepared_stmt_count on db$((i + 1))"
	done
fi

# ---- haproxy -----------------------------------------------------------------

HA_MAXCONN=$((4 * MAX_CONNS + 1000))
[ "$RUN_IDLE" = 0 ] || HA_MAXCONN=$((IDLE_CONNS + 4 * MAX_CONNS + 100))
if [ "$HARD_NOFILE" != unlimited ] && [ "$HA_MAXCONN" -gt $(((HARD_NOFILE - 100) / 2)) ]; then
	HA_MAXCONN=$(((HARD_NOFILE - 100) / 2))
fi
HA_CFG="$WORK/haproxy.cfg"
cat >"$HA_CFG" <<EOF
# written by scripts/bench.sh: TCP pass-through, the way HAProxy fronts
# MySQL without a SQL-aware proxy: one port to the primary, and the read
# port applications send their reads to, over the replicas.
global
    maxconn $HA_MAXCONN

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend mysql
    bind 127.0.0.1:$HA_PORT
    default_backend primary

backend primary
    balance first
    server db1 127.0.0.1:${PORTS[0]}

frontend mysql-read
    bind 127.0.0.1:$HA_READ_PORT
    default_backend replicas

backend replicas
    balance leastconn
    server db2 127.0.0.1:${PORTS[1]}
    server db3 127.0.0.1:${PORTS[2]}
EOF
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_in_use "$HA_PORT" && die "port $HA_PORT for haproxy is in use: stop what holds it or set BENCH_HAPROXY_PORT"
port_in_use "$HA_READ_PORT" && die "port $HA_READ_PORT for haproxy's read port is in use: stop what holds it or set BENCH_HAPROXY_READ_PORT"
haproxy -c -q -f "$HA_CFG" || die "haproxy rejects $HA_CFG"
HA_CMD=(haproxy -db -f "$HA_CFG")
"${HA_CMD[@]}" </dev/null >"$WORK/haproxy.log" 2>&1 &
HA_PID=$!
echo "$HA_PID" >"$WORK/haproxy.pid"

# wait_sql NAME PID PORT: until a query through 127.0.0.1:PORT works, the
# process dies, or READY_TIMEOUT passes.
wait_sql() {
	local name=$1 pid=$2 port=$3 deadline
	deadline=$(($(date +%s) + READY_TIMEOUT))
	while :; do
		kill -0 "$pid" 2>/dev/null || return 1
		if mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$port" --user=app --password=app \
			--connect-timeout=2 --batch --skip-column-names -e 'SELECT 1' test >/dev/null 2>&1; then
			return 0
		fi
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}
wait_sql haproxy "$HA_PID" "$HA_PORT" || {
	cat "$WORK/haproxy.log" >&2
	die "haproxy (pid $HA_PID) does not forward 127.0.0.1:$HA_PORT to the primary"
}
wait_sql haproxy "$HA_PID" "$HA_READ_PORT" || {
	cat "$WORK/haproxy.log" >&2
	die "haproxy (pid $HA_PID) does not forward 127.0.0.1:$HA_READ_PORT to the replicas"
}
log "haproxy pid $HA_PID on 127.0.0.1:$HA_PORT (primary) and 127.0.0.1:$HA_READ_PORT (replicas)"

# ---- go-relay and go-epoll: a Go TCP relay that parses nothing ------------------

# start_relay NAME PORT [FLAG …]: bin/tcprelay over the replicas; sets
# STARTED_PID and STARTED_CMD, or stops the run.
start_relay() {
	local name=$1 port=$2
	shift 2
	port_in_use "$port" && die "port $port for $name (tcprelay) is in use: stop what holds it or set its BENCH_*_PORT"
	STARTED_CMD=(bin/tcprelay "$@" --listen "127.0.0.1:$port" --backends "127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}")
	"${STARTED_CMD[@]}" </dev/null >"$WORK/$name.log" 2>&1 &
	STARTED_PID=$!
	wait_sql "$name" "$STARTED_PID" "$port" || {
		cat "$WORK/$name.log" >&2
		stop_pid "$name" "$STARTED_PID"
		die "$name (tcprelay, pid $STARTED_PID) does not forward 127.0.0.1:$port to the replicas"
	}
	log "$name pid $STARTED_PID on 127.0.0.1:$port (replicas)"
}
# go-relay runs in the sweep too, beside the point selects: the cost of a Go
# proxy that does nothing but relay bytes, one goroutine per connection,
# which is the floor Switchyard's own model (the same) can reach.
RELAY_CMD=() EPOLL_CMD=()
start_relay go-relay "$RELAY_PORT"
RELAY_PID=$STARTED_PID RELAY_CMD=("${STARTED_CMD[@]}")
if [ "$IO_MODELS" = 1 ]; then
	start_relay go-epoll "$EPOLL_PORT" --loops "$(nproc)"
	EPOLL_PID=$STARTED_PID EPOLL_CMD=("${STARTED_CMD[@]}")
fi

# ---- switchyard --------------------------------------------------------------

# sy_config PORT ADMIN_PORT: the benchmark's Switchyard configuration.
sy_config() {
	cat <<EOF
# written by scripts/bench.sh
listen: 127.0.0.1:$1
admin_listen: 127.0.0.1:$2
users: [{name: app, password: app}]
monitor: {user: root, password: ""}
limits: {max_connections: $((IDLE_WANTED + 4 * MAX_CONNS + 100))}
backends:
  - {name: db1, address: 127.0.0.1:${PORTS[0]}}
  - {name: db2, address: 127.0.0.1:${PORTS[1]}}
  - {name: db3, address: 127.0.0.1:${PORTS[2]}}
EOF
}

# start_switchyard NAME PORT ADMIN_PORT [ENV=VALUE …]: starts bin/switchyard;
# sets STARTED_PID to its pid and STARTED_CMD to its command line, or leaves
# STARTED_PID empty and says why in STARTED_STATUS.
start_switchyard() {
	local name=$1 port=$2 admin=$3 cfg pid rc
	shift 3
	cfg="$WORK/$name.yaml"
	sy_config "$port" "$admin" >"$cfg"
	STARTED_PID="" STARTED_STATUS=""
	STARTED_CMD=(env "$@" bin/switchyard --config "$cfg")
	if [ "$SY_BUILD_OK" != 1 ]; then
		STARTED_STATUS="bin/switchyard did not build (go build ./cmd/switchyard failed)"
		return
	fi
	if port_in_use "$port"; then
		STARTED_STATUS="port $port is already in use (set BENCH_SWITCHYARD_PORT)"
		return
	fi
	if port_in_use "$admin"; then
		STARTED_STATUS="admin port $admin is already in use (set BENCH_ADMIN_PORT)"
		return
	fi
	"${STARTED_CMD[@]}" </dev/null >"$WORK/$name.log" 2>&1 &
	pid=$!
	if wait_sql "$name" "$pid" "$port"; then
		log "$name pid $pid on 127.0.0.1:$port"
		STARTED_PID=$pid
		return
	fi
	if kill -0 "$pid" 2>/dev/null; then
		STARTED_STATUS="$name (pid $pid) did not answer SELECT 1 on 127.0.0.1:$port within ${READY_TIMEOUT}s"
	else
		wait "$pid" 2>/dev/null && rc=0 || rc=$?
		STARTED_STATUS="$name exited with status $rc right after start"
	fi
	stop_pid "$name" "$pid"
	echo "---- tail of $WORK/$name.log ----" >&2
	tail -n 20 "$WORK/$name.log" >&2 || true
	echo "----" >&2
}

start_switchyard switchyard "$SY_PORT" "$ADMIN_PORT"
SY_PID=$STARTED_PID SY_STATUS=$STARTED_STATUS SY_CMD=("${STARTED_CMD[@]}")
if [ -n "$SY_STATUS" ]; then
	log "############################################################"
	log "SWITCHYARD IS NOT BENCHMARKED: $SY_STATUS"
	log "continuing with direct and haproxy only"
	log "############################################################"
fi
SY1_CMD=()
if [ -n "$SY_PID" ] && [ "$ONE_PROC" = 1 ]; then
	start_switchyard switchyard-1p "$SY1_PORT" "$SY1_ADMIN_PORT" GOMAXPROCS=1
	SY1_PID=$STARTED_PID SY1_CMD=("${STARTED_CMD[@]}")
	[ -n "$SY1_PID" ] || log "switchyard-1p is not benchmarked: $STARTED_STATUS"
fi

# ---- switchyard-bench ----------------------------------------------------------

dsn() { echo "app:app@tcp(127.0.0.1:$1)/test"; }

# The sweep: point selects against HAProxy's read port (leastconn over the
# replicas), the read-write mix against its port to the primary, direct to
# the primary, Switchyard (read/write split, consistency: global, its
# default) — interleaved at each connection count.
SWEEP_CMD=()
SWEEP_RC=0
if [ -n "$SWEEP" ]; then
	SWEEP_CMD=(bin/switchyard-bench --prepare
		--target "direct=$(dsn "${PORTS[0]}")"
		--target "haproxy-read=$(dsn "$HA_READ_PORT")" --pid "haproxy-read=$HA_PID"
		--target "haproxy=$(dsn "$HA_PORT")" --pid "haproxy=$HA_PID")
	[ -z "$SY_PID" ] || SWEEP_CMD+=(--target "switchyard=$(dsn "$SY_PORT")" --pid "switchyard=$SY_PID")
	SWEEP_CMD+=(--target "go-relay=$(dsn "$RELAY_PORT")" --pid "go-relay=$RELAY_PID")
	SWEEP_CMD+=(--reads-only haproxy-read,go-relay --writes-only haproxy
		--baseline direct --compare haproxy-read,haproxy
		--scenarios "$SWEEP_SCENARIOS" --sweep "$SWEEP" --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP"
		--tables "$TABLES" --table-size "$TABLE_SIZE"
		--json "$WORK/sweep.json" --markdown "$WORK/sweep-rounds.md" --sweep-markdown "$WORK/sweep.md"
		--svg "$CHART" --bar switchyard --bar-markdown "$WORK/bar.md")
	log "running: ${SWEEP_CMD[*]}"
	"${SWEEP_CMD[@]}" | tee "$WORK/sweep.txt" || SWEEP_RC=$?
	[ "$SWEEP_RC" = 0 ] || log "the sweep exited with $SWEEP_RC; its partial report is used"
fi
# How Switchyard served the reads that had to see earlier writes during the
# sweep (the read-write mix runs with consistency: global): the counters of
# switchyard_consistent_reads_total, by how.
CONSISTENT_READS="$WORK/consistent-reads.txt"
: >"$CONSISTENT_READS"
if [ -n "$SY_PID" ] && [ -n "$SWEEP" ]; then
	curl -fsS "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null |
		sed -n 's/^switchyard_consistent_reads_total{how="\([a-z]*\)"} \([0-9.e+]*\)$/\1 \2/p' >"$CONSISTENT_READS" || true
fi

sb_row() { # TEST NAME FILE: the row sysbench_md reads, from sysbench's output
	awk -v test="$1" -v name="$2" '
		/transactions:/ { tps = $3; gsub(/\(/, "", tps) }
		/queries:/ && !/performed/ { qps = $3; gsub(/\(/, "", qps) }
		/ignored errors:/ { ign = $3 }
		/(95th|99th) percentile:/ { pct = $3 }
		END { printf "%s %s %s %s %s %s\n", test, name, qps, tps, pct, ign }' "$3"
}

# sysbench at the sweep's counts, the outside check: text protocol point
# selects, p99.
SB_SWEEP_ROWS="$WORK/sysbench-sweep.rows"
: >"$SB_SWEEP_ROWS"
SB_SWEEP_COMMON=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=app --mysql-password=app --mysql-db=test
	--tables="$TABLES" --table-size="$TABLE_SIZE" --time="$SB_TIME" --report-interval=0 --db-ps-mode=disable --percentile=99)
if [ "$SB_TIME" != 0 ] && [ -n "$SWEEP" ]; then
	for n in ${SWEEP//,/ }; do
		targets=("direct:${PORTS[0]}" "haproxy-read:$HA_READ_PORT")
		[ -z "$SY_PID" ] || targets+=("switchyard:$SY_PORT")
		for t in "${targets[@]}"; do
			name="${t%%:*}" port="${t#*:}"
			out="$WORK/sysbench-sweep-$n-$name.txt"
			log "sysbench oltp_point_select, $n threads, against $name"
			if timeout $((SB_TIME + 120)) sysbench oltp_point_select "${SB_SWEEP_COMMON[@]}" --threads="$n" --mysql-port="$port" run >"$out" 2>&1; then
				sb_row "$n" "$name" "$out" >>"$SB_SWEEP_ROWS"
			else
				echo "$n $name failed - - -" >>"$SB_SWEEP_ROWS"
				tail -n 5 "$out" >&2 || true
			fi
		done
	done
fi

# Where one server alone is fastest: sysbench point selects straight to one
# replica at each thread count, the measurement behind the default of
# pool.max_active_per_backend. Two passes over the counts.
CURVE_ROWS="$WORK/server-curve.rows"
: >"$CURVE_ROWS"
if [ "$SB_TIME" != 0 ] && [ -n "$SERVER_CURVE" ]; then
	for pass in 1 2; do
		for n in $SERVER_CURVE; do
			out="$WORK/server-curve-$pass-$n.txt"
			log "sysbench oltp_point_select, $n threads, straight to db2 (pass $pass)"
			if timeout $((SB_TIME + 120)) sysbench oltp_point_select "${SB_SWEEP_COMMON[@]}" --threads="$n" --mysql-port="${PORTS[1]}" run >"$out" 2>&1; then
				sb_row "$n" "pass$pass" "$out" >>"$CURVE_ROWS"
			fi
		done
	done
fi

# The rest of the suite at CONNS.
BENCH_CMD=(bin/switchyard-bench)
[ -n "$SWEEP" ] || BENCH_CMD+=(--prepare)
BENCH_CMD+=(--target "direct=$(dsn "${PORTS[0]}")"
	--target "haproxy=$(dsn "$HA_PORT")" --pid "haproxy=$HA_PID"
	--target "haproxy-read=$(dsn "$HA_READ_PORT")" --pid "haproxy-read=$HA_PID")
COMPARE=haproxy,haproxy-read READS_ONLY=haproxy-read
if [ -n "$EPOLL_PID" ]; then
	BENCH_CMD+=(--target "go-relay=$(dsn "$RELAY_PORT")" --pid "go-relay=$RELAY_PID"
		--target "go-epoll=$(dsn "$EPOLL_PORT")" --pid "go-epoll=$EPOLL_PID")
	COMPARE+=,go-relay,go-epoll READS_ONLY+=,go-relay,go-epoll
fi
BENCH_CMD+=(--reads-only "$READS_ONLY")
if [ -n "$SY_PID" ]; then
	BENCH_CMD+=(--target "switchyard=$(dsn "$SY_PORT")" --pid "switchyard=$SY_PID")
fi
if [ -n "$SY1_PID" ]; then
	BENCH_CMD+=(--target "switchyard-1p=$(dsn "$SY1_PORT")" --pid "switchyard-1p=$SY1_PID")
fi
BENCH_CMD+=(--baseline direct --compare "$COMPARE"
	--scenarios "$SCENARIOS" --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP"
	--conns "$CONNS" --tables "$TABLES" --table-size "$TABLE_SIZE"
	--idle-conns "$IDLE_CONNS" --large-bytes "$LARGE_BYTES"
	--failover-warmup "$FO_WARMUP" --failover-settle "$FO_SETTLE")
KILL_CMD="${BENCH_KILL_CMD:-}"
if [ "${BENCH_KILL_PRIMARY:-0}" = 1 ]; then
	[ -n "$SY_PID" ] || die "BENCH_KILL_PRIMARY=1 needs a running switchyard"
	KILL_CMD="kill -9 $PRIMARY_PID"
	touch "$BASE/killed-by-bench"
	BENCH_CMD+=(--failover-target switchyard)
fi
[ -z "$KILL_CMD" ] || BENCH_CMD+=(--kill-cmd "$KILL_CMD")
BENCH_CMD+=(--json "$WORK/bench.json" --markdown "$WORK/bench.md")

log "running: ${BENCH_CMD[*]}"
BENCH_RC=0
if [ -n "$SCENARIOS" ]; then
	"${BENCH_CMD[@]}" | tee "$WORK/bench.txt" || BENCH_RC=$?
	[ -s "$WORK/bench.md" ] || die "switchyard-bench produced no report (exit $BENCH_RC)"
	[ "$BENCH_RC" = 0 ] || log "switchyard-bench exited with $BENCH_RC; its partial report is used"
else
	BENCH_CMD=()
	echo "Not run (BENCH_SCENARIOS is empty)." >"$WORK/bench.md"
fi
[ "$SWEEP_RC" = 0 ] || BENCH_RC=$SWEEP_RC

# The bar is stated at IDLE_WANTED idle connections: when the suite had to
# run fewer, measure Switchyard alone at the full count.
IDLE_BAR_CMD=()
if [ -n "$IDLE_NOTE" ] && [ -n "$SY_PID" ]; then
	IDLE_BAR_CMD=(bin/switchyard-bench --target "switchyard=$(dsn "$SY_PORT")" --pid "switchyard=$SY_PID"
		--scenarios idle_conns --idle-conns "$IDLE_WANTED" --rounds 1 --duration "$DURATION" --warmup "$WARMUP"
		--tables "$TABLES" --table-size "$TABLE_SIZE" --json "$WORK/idle-bar.json" --markdown "$WORK/idle-bar.md")
	log "running: ${IDLE_BAR_CMD[*]}"
	"${IDLE_BAR_CMD[@]}" | tee "$WORK/idle-bar.txt" || log "the idle_conns run at $IDLE_WANTED failed (exit $?)"
fi

# ---- evproto: what an event-loop core would give ---------------------------------

# bench/cmd/evproto does Switchyard's per-statement work (classify, route, pool,
# response parsing) on epoll loops, for text COM_QUERY only: it runs
# point_select beside haproxy-read, go-epoll and Switchyard, on the tables
# the suite prepared (not after a real kill of the primary).
EVP_BENCH_CMD=()
if [ "$IO_MODELS" = 1 ] && [ -n "$SY_PID" ] && [ "${BENCH_KILL_PRIMARY:-0}" != 1 ] && ! port_in_use "$EVP_PORT"; then
	EVP_CMD=(bin/evproto --loops "$(nproc)" --listen "127.0.0.1:$EVP_PORT" --primary "127.0.0.1:${PORTS[0]}"
		--replicas "127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}")
	"${EVP_CMD[@]}" </dev/null >"$WORK/evproto.log" 2>&1 &
	EVP_PID=$!
	if wait_sql evproto "$EVP_PID" "$EVP_PORT"; then
		EVP_BENCH_CMD=(bin/switchyard-bench
			--target "haproxy-read=$(dsn "$HA_READ_PORT")" --pid "haproxy-read=$HA_PID"
			--target "go-epoll=$(dsn "$EPOLL_PORT")" --pid "go-epoll=$EPOLL_PID"
			--target "evproto=$(dsn "$EVP_PORT")" --pid "evproto=$EVP_PID"
			--target "switchyard=$(dsn "$SY_PORT")" --pid "switchyard=$SY_PID"
			--reads-only haproxy-read,go-epoll,evproto --baseline haproxy-read --compare go-epoll
			--scenarios point_select --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP"
			--conns "$CONNS" --tables "$TABLES" --table-size "$TABLE_SIZE" --markdown "$WORK/evproto.md")
		log "running: ${EVP_BENCH_CMD[*]}"
		"${EVP_BENCH_CMD[@]}" | tee "$WORK/evproto.txt" || log "the evproto run failed (exit $?)"
	else
		cat "$WORK/evproto.log" >&2
		log "evproto did not come up; its comparison is skipped"
	fi
	stop_pid evproto "$EVP_PID"
	EVP_PID=""
fi

# ---- sysbench, the outside check -------------------------------------------------

# After a real kill the primary is gone: sysbench then has nothing to run on.
SB_TARGETS=("direct:${PORTS[0]}" "haproxy:$HA_PORT")
[ -z "$SY_PID" ] || SB_TARGETS+=("switchyard:$SY_PORT")
SB_COMMON=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=app --mysql-password=app --mysql-db=test
	--tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$CONNS" --time="$SB_TIME" --report-interval=0)
SB_ROWS="$WORK/sysbench.rows"
: >"$SB_ROWS"
if [ "$SB_TIME" != 0 ] && [ "${BENCH_KILL_PRIMARY:-0}" != 1 ]; then
	SB_TESTS=(oltp_read_only oltp_read_write)
	[ -n "$SWEEP" ] || SB_TESTS=(oltp_point_select "${SB_TESTS[@]}")
	for test in "${SB_TESTS[@]}"; do
		targets=("${SB_TARGETS[@]}")
		# HAProxy's read port takes the tests that only read.
		[ "$test" = oltp_read_write ] || targets+=("haproxy-read:$HA_READ_PORT")
		for t in "${targets[@]}"; do
			name="${t%%:*}"
			port="${t#*:}"
			out="$WORK/sysbench-$test-$name.txt"
			log "sysbench $test against $name"
			if timeout $((SB_TIME + 60)) sysbench "$test" "${SB_COMMON[@]}" --mysql-port="$port" run >"$out" 2>&1; then
				sb_row "$test" "$name" "$out" >>"$SB_ROWS"
			else
				echo "$test $name failed - - -" >>"$SB_ROWS"
				log "sysbench $test against $name failed; see $out"
				tail -n 5 "$out" >&2 || true
			fi
		done
	done
fi

# sysbench_md renders the rows with the ratios to direct and to haproxy.
sysbench_md() {
	awk '
		function r(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
		{ test[NR] = $1; name[NR] = $2; qps[NR] = $3; tps[NR] = $4; p95[NR] = $5; ign[NR] = $6
		  if ($2 == "direct") dq[$1] = $3
		  if ($2 == "haproxy") hq[$1] = $3
		  if ($2 == "haproxy-read") rq[$1] = $3 }
		END {
			print "| test | target | qps | tps | p95 ms | ignored errors | qps vs direct | qps vs haproxy | qps vs haproxy-read |"
			print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
			for (i = 1; i <= NR; i++) {
				if (qps[i] == "failed") { printf "| %s | %s | failed | | | | | | |\n", test[i], name[i]; continue }
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", test[i], name[i], qps[i], tps[i], p95[i], ign[i], r(qps[i], dq[test[i]]), r(qps[i], hq[test[i]]), r(qps[i], rq[test[i]])
			}
		}' "$SB_ROWS"
}

# sysbench_sweep_md renders the sweep's sysbench rows (COUNT NAME QPS TPS
# P99 IGNORED) with the ratios to HAProxy's read port and to direct.
sysbench_sweep_md() {
	awk '
		function r(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
		{ n[NR] = $1; name[NR] = $2; qps[NR] = $3; p99[NR] = $5; ign[NR] = $6
		  if ($2 == "direct") dq[$1] = $3
		  if ($2 == "haproxy-read") { rq[$1] = $3; rp[$1] = $5 } }
		END {
			print "| threads | target | qps | p99 ms | ignored errors | qps vs haproxy-read | p99 vs haproxy-read | qps vs direct |"
			print "|---:|---|---:|---:|---:|---:|---:|---:|"
			for (i = 1; i <= NR; i++) {
				if (qps[i] == "failed") { printf "| %s | %s | failed | | | | | |\n", n[i], name[i]; continue }
				printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", n[i], name[i], qps[i], p99[i], ign[i], r(qps[i], rq[n[i]]), r(p99[i], rp[n[i]]), r(qps[i], dq[n[i]])
			}
		}' "$SB_SWEEP_ROWS"
}

# curve_md renders the server-alone rows (THREADS passN QPS TPS P99 IGN)
# one line per thread count, the passes side by side.
curve_md() {
	awk '
		{ if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 }
		  q[$1] = q[$1] (q[$1] == "" ? "" : " / ") $3; p[$1] = p[$1] (p[$1] == "" ? "" : " / ") $5 }
		END {
			print "| threads | qps (pass 1 / pass 2) | p99 ms (pass 1 / pass 2) |"
			print "|---:|---:|---:|"
			for (i = 1; i <= k; i++) printf "| %s | %s | %s |\n", order[i], q[order[i]], p[order[i]]
		}' "$CURVE_ROWS"
}

# idle_md checks the idle-connection bar (issue 3) against this run's JSON
# (needs jq).
idle_md() {
	local J="$WORK/bench.json"
	if [ -z "$SY_PID" ] || [ ! -s "$J" ]; then
		echo "Not checked: Switchyard or the suite did not run."
		return
	fi
	if ! command -v jq >/dev/null 2>&1; then
		echo "Not checked here (jq is not installed): read idle_conns below."
		return
	fi
	echo "| target | check | measured | bar | |"
	echo "|---|---|---:|---:|---|"
	local rss verdict n="$IDLE_CONNS" ij="$J"
	if [ -s "$WORK/idle-bar.json" ]; then
		n="$IDLE_WANTED"
		ij="$WORK/idle-bar.json"
	fi
	rss="$(jq -r '[.scenarios[] | select(.name == "idle_conns") | .results[] | select(.target == "switchyard") | .peak_rss_bytes] | first // empty' "$ij")"
	if [ -n "$rss" ] && [ "$rss" != null ]; then
		if [ "$rss" -lt $((200 << 20)) ]; then verdict=pass; else verdict="**miss**"; fi
		printf '| switchyard | peak RSS, %s idle connections | %.1f MiB | < 200 MiB | %s |\n' "$n" "$(awk -v b="$rss" 'BEGIN { print b / 1048576 }')" "$verdict"
	else
		echo "| switchyard | peak RSS, $n idle connections | - | < 200 MiB | not measured |"
	fi
}

# ---- docs/BENCHMARKS.md ----------------------------------------------------------

q() { # quote a command for copy and paste
	local a out=""
	for a in "$@"; do out+="$(printf '%q' "$a") "; done
	echo "${out% }"
}
rel() { echo "${1#"$ROOT"/}"; }

CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
MEM="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"

TMP_OUT="$OUT.tmp.$$"
KEEP_MARKER='<!-- make bench keeps everything below this line: measurements made by hand, each with its command -->'
{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` (\`scripts/bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), Switchyard at $REV."
	echo "Every number below comes from that one run: the targets ran interleaved"
	echo "(direct, haproxy, switchyard, direct, …) so the ratios hold on a noisy machine even"
	echo "when the absolute numbers drift. Compare ratios, not absolute numbers, across runs."
	echo
	if [ -n "$SY_STATUS" ]; then
		echo "> **Switchyard is not in this run:** $SY_STATUS. Only direct and HAProxy were measured."
		echo
	fi
	echo "## Machine"
	echo
	echo "- CPUs: $(nproc) ($CPU_MODEL), memory $MEM"
	echo "- \`uname -a\`: $(uname -a)"
	echo "- $(mariadbd --version 2>/dev/null | head -n1)"
	echo "- $(haproxy -v 2>/dev/null | head -n1)"
	[ "$SB_TIME" = 0 ] || echo "- sysbench $(sysbench --version 2>/dev/null | awk '{print $2}')"
	echo "- $(go version)"
	echo
	echo "- load average (1, 5, 15 min) before the run: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "The load generator, the proxies and MariaDB share these CPUs over loopback: a proxy's"
	echo "cost shows twice, in its own CPU and in the CPU it takes from the others. A load average"
	echo "well above the CPU count means other work shared the machine: expect noisy ratios (the"
	echo "per-round numbers are in the JSON, \`round_qps\`)."
	echo
	echo "## The bar (issue 15): the curve of point selects and the read-write mix"
	echo
	echo "Switchyard against HAProxy in TCP mode at each client connection count of the sweep ($SWEEP):"
	echo "point selects (text and prepared) against HAProxy's read port (\`haproxy-read\`: \`balance leastconn\`"
	echo "over the two replicas, every client connection passed through as a server connection), at least"
	echo "0.90x its qps at 8 and 32 connections and 1.05x at 128, 256 and 1,000, p99 at most 1.25x at every count,"
	echo "CPU per query at most 1.35x at 32; the read-write mix with \`consistency: global\` (Switchyard's default)"
	echo "against HAProxy's port to the primary (\`haproxy\`), at least 0.95x its qps, both in transactions"
	echo "(\`read_write\`, which Switchyard runs on the primary) and in autocommit (\`read_write_autocommit\`:"
	echo "the reads go to the replicas and must see the writes before them); and no read that had to see an"
	echo "earlier write paid a round trip of its own for its wait."
	echo
	if [ -s "$WORK/bar.md" ]; then cat "$WORK/bar.md"; else echo "Not checked: the sweep did not run."; fi
	echo
	echo "Where Switchyard wins: it writes the quick plain reads of many sessions back to back on a few"
	echo "connections per replica (\`pool.pipeline_connections\`, default 4) and reads the answers in order, so"
	echo "MariaDB answers on a few busy threads instead of waking one per client (see [Pipelined reads](#pipelined-reads));"
	echo "and it runs at most \`pool.max_active_per_backend\` other commands on each backend at once (default 32,"
	echo "measured below in [How many at once](#how-many-at-once)), queueing the rest first come, first served,"
	echo "while HAProxy hands MariaDB every client connection."
	echo
	echo "The sweep's \`go-relay\` rows are a Go relay that parses nothing, the same I/O model (a goroutine per"
	echo "connection, Go's poller) without pipelining: their ratios to \`haproxy-read\` at each count are the"
	echo "floor of a byte relay on this machine, where the proxy's CPU is taken from MariaDB and the clients."
	echo
	if [ -s "$CONSISTENT_READS" ]; then
		echo "Reads that had to see earlier writes, over the whole sweep (\`switchyard_consistent_reads_total\`):"
		echo "\`known\`: the replica was known to have applied them, no wait; \`pipelined\`: the wait went out in the"
		echo "same write as the read; \`redirected\`: the wait timed out and the primary answered; \`separate\`: a"
		echo "wait that cost its own round trip (the bar: 0)."
		echo
		echo "| how | reads | share |"
		echo "|---|---:|---:|"
		awk '{ n[$1] = $2; t += $2 } END { for (k in n) printf "| %s | %d | %.4f |\n", k, n[k], (t ? n[k] / t : 0) }' "$CONSISTENT_READS" | sort
		echo
		awk '{ n[$1] = $2; t += $2 } END {
			v = (t > 0 && n["separate"] == 0) ? "pass" : "**miss**"
			if (t == 0) v = "**miss** (no read had to see an earlier write: the bar was not exercised)"
			printf "Bar: reads with a wait of their own: %d of %d: %s.\n", n["separate"], t, v }' "$CONSISTENT_READS"
		echo
	fi
	if [ -s "$WORK/sweep.md" ]; then
		echo "## The curve (switchyard-bench sweep)"
		echo
		echo "![qps and p99 against client connections, per target]($(realpath -m --relative-to="$(dirname "$OUT")" "$CHART"))"
		echo
		echo "\`direct\` is the primary itself; \`haproxy-read\` and \`haproxy\` as above; \`switchyard\` has read/write"
		echo "split on over the primary and the two replicas; \`go-relay\` (\`bench/cmd/tcprelay\`, reads only) relays bytes"
		echo "to the replicas and parses nothing, one goroutine per connection as in Switchyard: the floor of that I/O"
		echo "model on this machine. \`cpu s/1k q\` is the proxy process's (from /proc)."
		echo "The last column compares every row with \`direct\` at 32 connections: the issue's \"256 clients get at least"
		echo "the throughput of 32 direct connections\". $ROUNDS round(s) of $DURATION per target and count, interleaved."
		echo
		cat "$WORK/sweep.md"
	fi
	if [ -s "$SB_SWEEP_ROWS" ]; then
		echo "### sysbench oltp_point_select at the same counts (outside check)"
		echo
		echo "Text protocol (\`--db-ps-mode=disable\`), $SB_TIME s per run, one target after the other per count."
		echo
		sysbench_sweep_md
		echo
	fi
	if [ -s "$CURVE_ROWS" ]; then
		echo "## How many at once"
		echo
		echo "sysbench oltp_point_select (text) straight to one replica (db2), no proxy, at each thread count, two"
		echo "passes: where one server answers the most queries on this machine. It is what the default of"
		echo "\`pool.max_active_per_backend\` (32) is set from: past the peak, more connections only add contention."
		echo
		curve_md
		echo
	fi
	echo "When the default was chosen (2026-12-03, first pass on a quiet machine, load average 2 to 8, 8 s per count:"
	echo "\`for n in 8 16 32 64 128 256; do sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1"
	echo "--mysql-user=app --mysql-password=app --mysql-db=test --tables=4 --table-size=10000 --db-ps-mode=disable"
	echo "--threads=\$n --time=8 --mysql-port=REPLICA run; done\`), one replica answered:"
	echo
	echo "| threads | 8 | 16 | 32 | 64 | 128 | 256 |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	echo "| qps | 24,964 | 34,315 | **39,004** | 29,915 | 23,728 | 19,081 |"
	echo "| p95 ms | 0.69 | 1.04 | 1.76 | 4.10 | 11.45 | 26.68 |"
	echo
	echo "the peak at 32, as in issue 15 (37.9k at 32, 29.4k at 256). Three more passes (6 s per count) while other"
	echo "work loaded the machine (load average 60 to 130) peaked at 16 threads every time (21.5k, 21.5k, 21.8k qps"
	echo "against 14.6k, 9.0k, 13.0k at 32): when the CPUs are short, fewer threads do better still, so 32 is an upper"
	echo "bound rather than a target for a server that shares its CPUs with other work."
	echo
	echo "## Idle connections (issue 3)"
	echo
	idle_md
	echo
	echo "## The rest of the suite (switchyard-bench), at $CONNS client connections"
	echo
	echo "Targets: \`direct\` is the primary itself, \`haproxy\` forwards TCP to it (\`mode tcp\`), \`haproxy-read\`"
	echo "is the same HAProxy's read port (\`balance leastconn\` over the two replicas; it runs only the scenarios that do"
	echo "not write), \`go-relay\` is \`bin/tcprelay\` over the replicas (reads only), \`go-epoll\` the same on"
	echo "event loops (\`--loops\`, reads only), \`switchyard\`"
	echo "is Switchyard with read/write split over the primary and two replicas, \`switchyard-1p\` the same"
	echo "binary and config with \`GOMAXPROCS=1\` (one Go scheduler thread; HAProxy runs its default threads)."
	echo "\`cpu s/1k q\` and \`peak RSS\` are the proxy process's (from /proc), absent for direct. Latency is per query for point selects and"
	echo "the connection storm, per transaction for the read-only and read-write mixes."
	echo
	if [ -n "$IDLE_NOTE" ]; then
		echo "> Note: $IDLE_NOTE."
		echo
	fi
	cat "$WORK/bench.md"
	echo
	if [ -s "$WORK/idle-bar.md" ]; then
		echo "### idle_conns at $IDLE_WANTED, Switchyard alone"
		echo
		echo "The same scenario at the count the bar names, which only Switchyard can hold here."
		echo
		sed '1,/^$/d' "$WORK/idle-bar.md"
		echo
	fi
	if [ -s "$WORK/evproto.md" ]; then
		echo "## What an event-loop core would give (evproto)"
		echo
		echo "\`evproto\` (\`bench/cmd/evproto\`, a prototype) does the per-statement work Switchyard cannot do without:"
		echo "classify (digest cache), route (\`router.Route\`), borrow a pooled backend connection, parse the"
		echo "response to its end. It does this on one epoll loop per CPU like \`go-epoll\`, and nothing else (no metrics,"
		echo "session state, transactions, prepared statements or TLS). Text point selects only, after the suite."
		echo
		sed '1,/^$/d' "$WORK/evproto.md"
		echo
	fi
	echo "## sysbench (outside check)"
	echo
	if [ ! -s "$SB_ROWS" ]; then
		echo "Not run (BENCH_SYSBENCH_TIME=0, or the failover drill killed the primary)."
	else
		echo "sysbench $SB_TIME s per run, $CONNS threads, \`--db-ps-mode\` default (prepared statements), on the"
		echo "tables switchyard-bench prepared (same schema), one target after the other for each test."
		echo
		sysbench_md
	fi
	echo
	echo "## Commands"
	echo
	echo "Everything above came from \`make bench\`, i.e. \`scripts/bench.sh\` with these settings:"
	echo
	echo '```sh'
	echo "scripts/topology.sh start $(rel "$BASE") ${PORTS[*]}"
	echo "$(q "${HA_CMD[@]}" | sed "s#$ROOT/##g")   # mode tcp: 127.0.0.1:$HA_PORT to the primary, 127.0.0.1:$HA_READ_PORT to the replicas"
	[ "${#RELAY_CMD[@]}" = 0 ] || q "${RELAY_CMD[@]}"
	[ "${#EPOLL_CMD[@]}" = 0 ] || q "${EPOLL_CMD[@]}"
	[ "${#EVP_BENCH_CMD[@]}" = 0 ] || q "${EVP_CMD[@]}"
	[ -z "$SY_PID" ] || q "${SY_CMD[@]}" | sed "s#$ROOT/##g"
	[ -z "$SY1_PID" ] || q "${SY1_CMD[@]}" | sed "s#$ROOT/##g"
	[ "${#SWEEP_CMD[@]}" = 0 ] || q "${SWEEP_CMD[@]}" | sed "s#$ROOT/##g"
	if [ -s "$SB_SWEEP_ROWS" ]; then
		echo "for n in ${SWEEP//,/ }; do sysbench oltp_point_select $(q "${SB_SWEEP_COMMON[@]}") --threads=\$n --mysql-port={${PORTS[0]},$HA_READ_PORT$([ -z "$SY_PID" ] || echo ",$SY_PORT")} run; done"
	fi
	if [ -s "$CURVE_ROWS" ]; then
		echo "for n in $SERVER_CURVE; do sysbench oltp_point_select $(q "${SB_SWEEP_COMMON[@]}") --threads=\$n --mysql-port=${PORTS[1]} run; done   # twice"
	fi
	[ "${#BENCH_CMD[@]}" = 0 ] || q "${BENCH_CMD[@]}" | sed "s#$ROOT/##g"
	[ "${#IDLE_BAR_CMD[@]}" = 0 ] || q "${IDLE_BAR_CMD[@]}" | sed "s#$ROOT/##g"
	[ "${#EVP_BENCH_CMD[@]}" = 0 ] || q "${EVP_BENCH_CMD[@]}" | sed "s#$ROOT/##g"
	if [ -s "$SB_ROWS" ]; then
		echo "sysbench {$(IFS=,; echo "${SB_TESTS[*]}")} $(q "${SB_COMMON[@]}") --mysql-port={${PORTS[0]},$HA_PORT$([ -z "$SY_PID" ] || echo ",$SY_PORT")} run"
		echo "sysbench oltp_read_only $(q "${SB_COMMON[@]}") --mysql-port=$HA_READ_PORT run   # haproxy-read"
	fi
	echo '```'
	echo
	echo "Rerun with \`make bench\`; \`BENCH_QUICK=1 make bench\` is a smoke run of a few minutes, and"
	echo "\`BENCH_SWEEP\`, \`BENCH_DURATION\`, \`BENCH_ROUNDS\`, \`BENCH_CONNS\`, \`BENCH_SCENARIOS\`, \`BENCH_IO_MODELS=1\` … are in scripts/bench.sh."
	echo "The JSON of this run was $(rel "$WORK")/sweep.json and $(rel "$WORK")/bench.json."
	echo
	echo "## Measuring other targets"
	echo
	echo "\`switchyard-bench\` takes any MySQL-protocol endpoints as go-sql-driver DSNs, for example another"
	echo "proxy, and runs them interleaved; \`--pid\` adds the process's CPU and RSS. The failover drill is"
	echo "\`--scenarios failover --kill-cmd '…'\`; it reports when writes failed and came back and counts"
	echo "acknowledged writes that are missing afterwards (\`BENCH_KILL_PRIMARY=1 make bench\` runs it against"
	echo "Switchyard, killing the primary)."
	echo
	echo '```sh'
	echo "go build -o bin/switchyard-bench ./cmd/switchyard-bench"
	echo "bin/switchyard-bench --prepare --target direct='app:app@tcp(127.0.0.1:3306)/test' \\"
	echo "  --target proxysql='app:app@tcp(127.0.0.1:6033)/test' --pid proxysql=\$(pidof proxysql) \\"
	echo "  --baseline direct --scenarios point_select,point_select_prepared --rounds 3 --duration 10s --json out.json"
	echo '```'
	echo
	echo "\`bin/switchyard-bench -h\` lists every flag and scenario."
	# Measurements made by hand (an upgrade under load, A/B of one change)
	# are kept from the previous file: this run does not redo them.
	if [ -f "$OUT" ] && grep -qF "$KEEP_MARKER" "$OUT"; then
		echo
		sed -n "/^$KEEP_MARKER\$/,\$p" "$OUT"
	fi
} >"$TMP_OUT"
mv "$TMP_OUT" "$OUT"
log "wrote $OUT"
[ -z "$SY_STATUS" ] || log "NOTE: switchyard was not benchmarked: $SY_STATUS"
exit "$BENCH_RC"
