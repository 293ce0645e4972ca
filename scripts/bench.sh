#!/usr/bin/env bash
# bench.sh — `make bench`: measure Switchyard against MariaDB direct and
# HAProxy (TCP mode) on one machine in one run, and write docs/BENCHMARKS.md.
#
# It brings up a MariaDB topology (scripts/topology.sh), HAProxy from
# Debian's package on 127.0.0.1:6034 forwarding to the primary, and
# Switchyard on 127.0.0.1:6033; runs bin/switchyard-bench with the standard
# suite against direct / haproxy / switchyard interleaved; runs sysbench
# (oltp_point_select, oltp_read_only, oltp_read_write) against each as an
# outside check; and writes the tables, the ratios, the machine and the exact
# commands. Everything it started is stopped at the end, by PID, also on
# failure or Ctrl-C. If Switchyard does not build or start, it says so and
# benchmarks the others.
#
# Environment (defaults in brackets):
#   BENCH_QUICK=1            a ~2 minute smoke run instead of the full suite
#   BENCH_DURATION [5s]      measured time per round
#   BENCH_ROUNDS [2]         rounds per scenario and target, interleaved
#   BENCH_WARMUP [1s]        unmeasured load before each round
#   BENCH_CONNS [32]         client connections
#   BENCH_SCENARIOS [default,failover]   switchyard-bench --scenarios
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
#   BENCH_ONE_PROC [1]       also run a second Switchyard with GOMAXPROCS=1
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
fi
DURATION="${BENCH_DURATION:-5s}"
ROUNDS="${BENCH_ROUNDS:-2}"
WARMUP="${BENCH_WARMUP:-1s}"
CONNS="${BENCH_CONNS:-32}"
SCENARIOS="${BENCH_SCENARIOS:-default,failover}"
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
ONE_PROC="${BENCH_ONE_PROC:-1}"
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

# idle_conns holds IDLE_CONNS connections through direct and HAProxy, each a
# server connection: lift the topology's max_connections (500) at runtime on
# all three servers (a proxy may open connections to the replicas too), and
# their open-file limit with prlimit where it is too low.
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
	fit=$(((HARD_NOFILE - 100) / 2 - 2 * CONNS - 100))
	if [ "$IDLE_CONNS" -gt "$fit" ]; then
		IDLE_CONNS="$fit"
		IDLE_NOTE="idle_conns runs $IDLE_CONNS connections, not $IDLE_WANTED: the open-file hard limit here is $HARD_NOFILE and HAProxy needs two descriptors per connection"
		log "$IDLE_NOTE"
	fi
fi
if [ "$RUN_IDLE" = 1 ]; then
	want=$((IDLE_WANTED + 2 * CONNS + 200))
	for i in 0 1 2; do
		pidf="$BASE/db$((i + 1))/mariadbd.pid"
		pid="$(tr -dc '0-9' <"$pidf")"
		soft="$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")"
		if [ "$soft" != unlimited ] && [ "$soft" -lt $((want + 500)) ]; then
			prlimit --pid "$pid" --nofile="$((want + 500)):$((want + 500))" 2>/dev/null ||
				log "db$((i + 1)) (pid $pid) may open only $soft files; idle_conns through it may fail"
		fi
		sql "${PORTS[$i]}" "SET GLOBAL max_connections = $want" ||
			log "could not raise max_connections on db$((i + 1))"
	done
fi

# ---- haproxy -----------------------------------------------------------------

HA_MAXCONN=$((4 * CONNS + 1000))
[ "$RUN_IDLE" = 0 ] || HA_MAXCONN=$((IDLE_CONNS + 2 * CONNS + 100))
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
start_relay go-relay "$RELAY_PORT"
RELAY_PID=$STARTED_PID RELAY_CMD=("${STARTED_CMD[@]}")
start_relay go-epoll "$EPOLL_PORT" --loops "$(nproc)"
EPOLL_PID=$STARTED_PID EPOLL_CMD=("${STARTED_CMD[@]}")

# ---- switchyard --------------------------------------------------------------

# sy_config PORT ADMIN_PORT: the benchmark's Switchyard configuration.
sy_config() {
	cat <<EOF
# written by scripts/bench.sh
listen: 127.0.0.1:$1
admin_listen: 127.0.0.1:$2
users: [{name: app, password: app}]
monitor: {user: root, password: ""}
limits: {max_connections: $((IDLE_WANTED + 4 * CONNS + 100))}
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
BENCH_CMD=(bin/switchyard-bench --prepare
	--target "direct=$(dsn "${PORTS[0]}")"
	--target "haproxy=$(dsn "$HA_PORT")" --pid "haproxy=$HA_PID"
	--target "haproxy-read=$(dsn "$HA_READ_PORT")" --pid "haproxy-read=$HA_PID"
	--target "go-relay=$(dsn "$RELAY_PORT")" --pid "go-relay=$RELAY_PID"
	--target "go-epoll=$(dsn "$EPOLL_PORT")" --pid "go-epoll=$EPOLL_PID"
	--reads-only haproxy-read,go-relay,go-epoll)
if [ -n "$SY_PID" ]; then
	BENCH_CMD+=(--target "switchyard=$(dsn "$SY_PORT")" --pid "switchyard=$SY_PID")
fi
if [ -n "$SY1_PID" ]; then
	BENCH_CMD+=(--target "switchyard-1p=$(dsn "$SY1_PORT")" --pid "switchyard-1p=$SY1_PID")
fi
BENCH_CMD+=(--baseline direct --compare haproxy,haproxy-read,go-relay,go-epoll
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
"${BENCH_CMD[@]}" | tee "$WORK/bench.txt" || BENCH_RC=$?
[ -s "$WORK/bench.md" ] || die "switchyard-bench produced no report (exit $BENCH_RC)"
[ "$BENCH_RC" = 0 ] || log "switchyard-bench exited with $BENCH_RC; its partial report is used"

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
if [ -n "$SY_PID" ] && [ "${BENCH_KILL_PRIMARY:-0}" != 1 ] && ! port_in_use "$EVP_PORT"; then
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
	for test in oltp_point_select oltp_read_only oltp_read_write; do
		targets=("${SB_TARGETS[@]}")
		# HAProxy's read port takes the tests that only read.
		[ "$test" = oltp_read_write ] || targets+=("haproxy-read:$HA_READ_PORT")
		for t in "${targets[@]}"; do
			name="${t%%:*}"
			port="${t#*:}"
			out="$WORK/sysbench-$test-$name.txt"
			log "sysbench $test against $name"
			if timeout $((SB_TIME + 60)) sysbench "$test" "${SB_COMMON[@]}" --mysql-port="$port" run >"$out" 2>&1; then
				awk -v test="$test" -v name="$name" '
					/transactions:/ { tps = $3; gsub(/\(/, "", tps) }
					/queries:/ && !/performed/ { qps = $3; gsub(/\(/, "", qps) }
					/ignored errors:/ { ign = $3 }
					/95th percentile:/ { p95 = $3 }
					END { printf "%s %s %s %s %s %s\n", test, name, qps, tps, p95, ign }' "$out" >>"$SB_ROWS"
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

# bar_md checks the bar against this run's JSON (needs jq).
bar_md() {
	local J="$WORK/bench.json"
	if [ -z "$SY_PID" ]; then
		echo "Not checked: Switchyard was not running."
		return
	fi
	if ! command -v jq >/dev/null 2>&1; then
		echo "Not checked here (jq is not installed): read the switchyard/haproxy ratios below."
		return
	fi
	# check TARGET REF SCENARIO FIELD OP LIMIT: FIELD of TARGET's ratio to REF.
	check() {
		local v verdict label="$3 ${4/cpu_per_1k_queries/cpu per query} / $2"
		v="$(jq -r --arg t "$1" --arg r "$2" --arg s "$3" --arg f "$4" \
			'[.scenarios[] | select(.name == $s) | .vs_compare[]? | select(.target == $t and .versus == $r) | .[$f]] | first // empty' "$J")"
		if [ -z "$v" ] || [ "$v" = null ]; then
			echo "| $1 | $label | - | $5 $6 | not measured |"
			return
		fi
		if awk -v v="$v" -v l="$6" -v op="$5" 'BEGIN { exit !((op == ">=") ? v >= l : v <= l) }'; then verdict=pass; else verdict="**miss**"; fi
		printf '| %s | %s | %.2fx | %s %sx | %s |\n' "$1" "$label" "$v" "$5" "$6" "$verdict"
	}
	local t ref sc targets=(switchyard)
	[ -z "$SY1_PID" ] || targets+=(switchyard-1p)
	echo "| target | check | measured | bar | |"
	echo "|---|---|---:|---:|---|"
	for ref in haproxy-read haproxy; do
		for t in "${targets[@]}"; do
			for sc in point_select point_select_prepared; do
				check "$t" "$ref" "$sc" qps ">=" 0.9
				check "$t" "$ref" "$sc" p99 "<=" 1.2
				check "$t" "$ref" "$sc" cpu_per_1k_queries "<=" 1.5
			done
		done
	done
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
	echo "## The bar (issue 3), at $CONNS client connections"
	echo
	echo "- point select through Switchyard with read/write split on: at least 0.90x HAProxy's qps, p99 at most 1.20x HAProxy's;"
	echo "- CPU per query of Switchyard at most 1.5x HAProxy's (\`cpu/query\` below);"
	echo "- $IDLE_WANTED idle client connections: under 200 MiB RSS for the proxy (\`peak RSS MiB\` in idle_conns);"
	echo "- nothing allocated per relayed packet in steady state: the Go benchmarks check that (\`go test -bench . -benchmem\`"
	echo "  in the proxy packages), not this run."
	echo
	echo "With the split on, Switchyard sends point selects to the two replicas. The HAProxy that does the"
	echo "same is its read port (\`haproxy-read\`: \`mode tcp\`, \`balance leastconn\` over the replicas, the"
	echo "port a HAProxy user gives the application for its reads), so the bar is checked against it first:"
	echo "same servers, same work for MariaDB, the proxies' own cost is the difference. The rows against"
	echo "\`haproxy\` (everything to the primary) follow: on this machine the three servers share the same"
	echo "CPUs, and one busy server costs less per query than two (compare \`haproxy-read\` with \`haproxy\`"
	echo "below), which a deployment with a machine per server does not see. \`go-relay\` is \`bench/cmd/tcprelay\`,"
	echo "the smallest Go TCP proxy (a goroutine per direction copying bytes, no parsing) over the same replicas:"
	echo "what Go's goroutine-per-connection networking costs here before any work of Switchyard's."
	echo "\`go-epoll\` is the same relay on one epoll event loop per CPU (\`tcprelay --loops\`), HAProxy's I/O model:"
	echo "no goroutine parks or wakes per read. The two show what the I/O model alone is worth on this machine."
	echo
	bar_md
	echo
	echo "## Results (switchyard-bench)"
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
	q "${RELAY_CMD[@]}"
	q "${EPOLL_CMD[@]}"
	[ "${#EVP_BENCH_CMD[@]}" = 0 ] || q "${EVP_CMD[@]}"
	[ -z "$SY_PID" ] || q "${SY_CMD[@]}" | sed "s#$ROOT/##g"
	[ -z "$SY1_PID" ] || q "${SY1_CMD[@]}" | sed "s#$ROOT/##g"
	q "${BENCH_CMD[@]}" | sed "s#$ROOT/##g"
	[ "${#IDLE_BAR_CMD[@]}" = 0 ] || q "${IDLE_BAR_CMD[@]}" | sed "s#$ROOT/##g"
	[ "${#EVP_BENCH_CMD[@]}" = 0 ] || q "${EVP_BENCH_CMD[@]}" | sed "s#$ROOT/##g"
	if [ -s "$SB_ROWS" ]; then
		echo "sysbench {oltp_point_select,oltp_read_only,oltp_read_write} $(q "${SB_COMMON[@]}") --mysql-port={${PORTS[0]},$HA_PORT$([ -z "$SY_PID" ] || echo ",$SY_PORT")} run"
		echo "sysbench {oltp_point_select,oltp_read_only} $(q "${SB_COMMON[@]}") --mysql-port=$HA_READ_PORT run   # haproxy-read"
	fi
	echo '```'
	echo
	echo "Rerun with \`make bench\`; \`BENCH_QUICK=1 make bench\` is a two-minute smoke run, and"
	echo "\`BENCH_DURATION\`, \`BENCH_ROUNDS\`, \`BENCH_CONNS\`, \`BENCH_SCENARIOS\` … are in scripts/bench.sh."
	echo "The JSON of this run was $(rel "$WORK")/bench.json."
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
} >"$TMP_OUT"
mv "$TMP_OUT" "$OUT"
log "wrote $OUT"
[ -z "$SY_STATUS" ] || log "NOTE: switchyard was not benchmarked: $SY_STATUS"
exit "$BENCH_RC"
