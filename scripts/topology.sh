#!/usr/bin/env bash
# topology.sh — a real MariaDB topology on loopback for tests and the demo:
# one primary (db1) and two GTID replicas (db2, db3), each with its own
# datadir, socket, pid file and error log under BASEDIR.
#
#   scripts/topology.sh start  BASEDIR PRIMARY_PORT REPLICA1_PORT REPLICA2_PORT
#   scripts/topology.sh stop   BASEDIR
#   scripts/topology.sh status BASEDIR
#
# start is idempotent: on an initialized BASEDIR it starts only the servers
# that are not running (keeping their data, so a test can kill a server and
# bring it back) and verifies that all three answer. stop kills only the
# mariadbd processes named by the pid files in BASEDIR (checked against their
# command line, so a recycled pid is never killed) and is a no-op when none
# runs. Several topologies can run at once on different BASEDIRs and ports.
#
# Accounts (created on the primary, replicated): root@127.0.0.1 and
# root@localhost without password (the proxy's monitor account), app/app with
# ALL PRIVILEGES except READ_ONLY ADMIN (so read_only and fencing apply to it,
# as they would to an application), repl/repl for replication. Database: test.
set -euo pipefail

readonly NAMES=(db1 db2 db3)
readonly READY_TIMEOUT=60  # seconds for a server to answer after launch
readonly REPL_TIMEOUT=60   # seconds for replicas to connect and catch up
readonly STOP_TIMEOUT=20   # seconds for a server to exit after SIGTERM

log() { echo "topology: $*" >&2; }
die() { echo "topology: ERROR: $*" >&2; exit 1; }

usage() {
	cat >&2 <<'EOF'
usage: topology.sh start  BASEDIR PRIMARY_PORT REPLICA1_PORT REPLICA2_PORT
       topology.sh stop   BASEDIR
       topology.sh status BASEDIR
EOF
	exit 2
}

now() { date +%s%3N; } # milliseconds

# Debian puts mariadbd in /usr/sbin, which is not on a non-root PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

have_mariadb() {
	command -v mariadbd >/dev/null 2>&1 &&
		command -v mariadb >/dev/null 2>&1 &&
		command -v mariadb-install-db >/dev/null 2>&1
}

ensure_mariadb() {
	have_mariadb && return 0
	[ "$(id -u)" = 0 ] || die "mariadbd not found: install mariadb-server and mariadb-client (or run this script as root to let it use apt-get)"
	log "mariadbd not found; installing mariadb-server mariadb-client with apt-get"
	# Keep Debian's postinst from starting the system service on :3306: a
	# policy-rc.d that denies every start, only for the install.
	local policy=/usr/sbin/policy-rc.d created=0 rc=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get -q -o DPkg::Lock::Timeout=300 update &&
		apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends mariadb-server mariadb-client; } >&2 || rc=$?
	[ "$created" = 1 ] && rm -f "$policy"
	[ "$rc" = 0 ] || die "apt-get install mariadb-server mariadb-client failed (exit $rc)"
	have_mariadb || die "mariadb-server installed but mariadbd, mariadb or mariadb-install-db is still missing"
}

# ---- paths, all derived from the absolute BASEDIR --------------------------

dir_of() { echo "$BASE/${NAMES[$1]}"; }
cnf_of() { echo "$BASE/${NAMES[$1]}/my.cnf"; }
pidfile_of() { echo "$BASE/${NAMES[$1]}/mariadbd.pid"; }
errlog_of() { echo "$BASE/${NAMES[$1]}/error.log"; }

# A unix socket path must fit in sun_path (108 bytes); fall back to /tmp.
sock_of() {
	local s="$BASE/${NAMES[$1]}/mariadbd.sock"
	if [ "${#s}" -gt 100 ]; then
		s="/tmp/switchyard-$(printf '%s' "$BASE" | md5sum | cut -c1-16)-${NAMES[$1]}.sock"
	fi
	echo "$s"
}

set_base() {
	[ -n "$1" ] || usage
	BASE="$1"
}

# lock serializes start/stop on one BASEDIR. fd 9 is closed for mariadbd so
# the servers never hold the lock.
lock() {
	exec 9>"$BASE/.lock"
	flock -w 180 9 || die "another topology.sh holds $BASE/.lock for more than 180s"
}

# ---- processes ---------------------------------------------------------------

# server_pid I prints the pid of server I if it runs and is ours: the pid file
# names a live process whose command line holds this server's my.cnf path.
server_pid() {
	local pf pid cmd
	pf="$(pidfile_of "$1")"
	[ -s "$pf" ] || return 1
	pid="$(tr -dc '0-9' 2>/dev/null <"$pf")" || return 1
	[ -n "$pid" ] || return 1
	cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
	case "$cmd" in
	*"--defaults-file=$(cnf_of "$1") "*) echo "$pid" ;;
	*) return 1 ;;
	esac
}

launch() {
	local i=$1 cnf pid
	cnf="$(cnf_of "$i")"
	local args=(--defaults-file="$cnf")
	[ "$(id -u)" = 0 ] && args+=(--user=root)
	# Not through a subshell: $! is mariadbd itself. stdio goes to the error
	# log so nobody reading this script's output waits on the server.
	mariadbd "${args[@]}" </dev/null >>"$(errlog_of "$i")" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$(pidfile_of "$i")"
}

errtail() {
	local f
	f="$(errlog_of "$1")"
	echo "---- tail of $f ----" >&2
	tail -n 30 "$f" >&2 2>/dev/null || true
	echo "----" >&2
}

sql_sock() { # I SQL...
	local i=$1
	shift
	mariadb --no-defaults --user=root --socket="$(sock_of "$i")" --connect-timeout=5 \
		--batch --skip-column-names -e "$*"
}

sql_tcp() { # PORT SQL...
	local port=$1
	shift
	mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$port" --user=root \
		--connect-timeout=2 --batch --skip-column-names -e "$*"
}

# slave_status_sock I / slave_status_tcp PORT: SHOW SLAVE STATUS\G with the
# field names (--skip-column-names would drop them).
slave_status_sock() {
	mariadb --no-defaults --user=root --socket="$(sock_of "$1")" --connect-timeout=5 \
		-e 'SHOW SLAVE STATUS\G'
}

slave_status_tcp() {
	mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$1" --user=root \
		--connect-timeout=2 -e 'SHOW SLAVE STATUS\G'
}

# wait_ready I PORT: until the server answers on 127.0.0.1:PORT *and* it is
# this server (its socket is ours), or it dies, or the deadline passes.
wait_ready() {
	local i=$1 port=$2 deadline got
	deadline=$(($(date +%s) + READY_TIMEOUT))
	while :; do
		# Right after launch the child may not have exec'd mariadbd yet (its
		# command line is still the shell's): alive is enough here.
		# mariadbd rewrites the pid file (pid-file= in my.cnf) as it starts:
		# read empty in that moment, it says nothing yet.
		local pid
		pid="$(tr -dc '0-9' 2>/dev/null <"$(pidfile_of "$i")")" || pid=""
		if [ -z "$pid" ] && [ "$(date +%s)" -lt "$deadline" ]; then
			sleep 0.1
			continue
		fi
		if [ -z "$pid" ] || ! running "$pid"; then
			errtail "$i"
			die "${NAMES[$i]} (port $port) exited during startup"
		fi
		got="$(sql_tcp "$port" 'SELECT @@socket' 2>/dev/null)" || got=""
		if [ "$got" = "$(sock_of "$i")" ]; then
			return 0
		fi
		if [ -n "$got" ]; then
			die "port $port answers, but as another server (socket $got); pick free ports"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			errtail "$i"
			die "${NAMES[$i]} did not answer on 127.0.0.1:$port within ${READY_TIMEOUT}s"
		fi
		sleep 0.1
	done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running PID: the process has not finished exiting. Its command line
# empties early in exit, and a multithreaded process's leader turns zombie
# while its other threads still hold the sockets and files, so: not a zombie,
# or a zombie that still has other threads.
running() {
	local st tasks
	st="$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' 2>/dev/null <"/proc/$1/status")" || return 1
	[ -n "$st" ] || return 1
	[ "$st" != Z ] && [ "$st" != X ] && return 0
	tasks=("/proc/$1/task/"*)
	[ "${#tasks[@]}" -gt 1 ] && [ -e "${tasks[1]}" ]
}

# wait_gone SECONDS PID...: until none of the pids runs; 1 on timeout.
wait_gone() {
	local deadline=$(($(date +%s) + $1)) pid alive
	shift
	while :; do
		alive=0
		for pid in "$@"; do running "$pid" && alive=1; done
		[ "$alive" = 0 ] && return 0
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# wait_dying I: if server I was just killed and is still exiting (its pid
# runs but its command line is gone), wait until it lets go of its port and
# datadir.
wait_dying() {
	local pid
	pid="$(tr -dc '0-9' 2>/dev/null <"$(pidfile_of "$1")")" || return 0
	[ -n "$pid" ] && running "$pid" && [ ! -s "/proc/$pid/cmdline" ] || return 0
	wait_gone "$STOP_TIMEOUT" "$pid" || die "${NAMES[$1]} (pid $pid) is still exiting after ${STOP_TIMEOUT}s"
}

stop_all() {
	local i pid pids=()
	for i in 0 1 2; do
		if pid="$(server_pid "$i")"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	[ "${#pids[@]}" -gt 0 ] || return 0
	if ! wait_gone "$STOP_TIMEOUT" "${pids[@]}"; then
		# The pids were verified as ours above; 20s is too short for reuse.
		for pid in "${pids[@]}"; do
			if running "$pid"; then
				log "pid $pid did not exit within ${STOP_TIMEOUT}s; sending SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
		wait_gone 5 "${pids[@]}" || die "servers in $BASE survive SIGKILL: ${pids[*]}"
	fi
	for i in 0 1 2; do rm -f "$(pidfile_of "$i")"; done
	log "stopped ${#pids[@]} server(s) in $BASE"
}

# ---- configuration -----------------------------------------------------------

# common_cnf: settings the bootstrap and the servers share, so the copied
# datadir matches what the servers expect (InnoDB redo log size).
common_cnf() {
	cat <<'EOF'
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
# A killed mariadbd loses nothing at 2 (the OS holds the write); only a host
# crash would. Saves an fsync per commit on shared CI disks.
innodb_flush_log_at_trx_commit=2
performance_schema=OFF
character_set_server=utf8mb4
collation_server=utf8mb4_general_ci
EOF
}

write_cnf() {
	local i=$1 port=$2 d
	d="$(dir_of "$i")"
	{
		echo "# written by scripts/topology.sh"
		echo "[mariadbd]"
		echo "datadir=$d/data"
		echo "socket=$(sock_of "$i")"
		echo "pid-file=$(pidfile_of "$i")"
		echo "log_error=$(errlog_of "$i")"
		echo "tmpdir=$d"
		echo "bind_address=127.0.0.1"
		echo "port=$port"
		echo "server_id=$((i + 1))"
		echo "report_host=127.0.0.1"
		echo "report_port=$port"
		echo "log_bin=mariadb-bin"
		echo "log_bin_index=mariadb-bin.index"
		echo "relay_log=relay-bin"
		echo "relay_log_index=relay-bin.index"
		echo "binlog_format=ROW"
		echo "log_slave_updates=1"
		echo "gtid_strict_mode=1"
		echo "gtid_domain_id=0"
		echo "local_infile=1"
		echo "max_allowed_packet=1G"
		echo "skip_name_resolve=1"
		echo "max_connections=500"
		# Heartbeats every 5s: a replica notices a silent primary in 10s.
		echo "slave_net_timeout=10"
		common_cnf
		if [ "$i" != 0 ]; then echo "read_only=1"; fi
	} >"$(cnf_of "$i")"
}

# ---- start -------------------------------------------------------------------

INIT_OK=1
on_exit() {
	if [ "$INIT_OK" = 0 ]; then
		log "initialization failed; stopping the servers it started in $BASE"
		stop_all || true
	fi
}

cmd_start() {
	[ $# = 4 ] || usage
	set_base "$1"
	local ports=("$2" "$3" "$4") p i t0
	for p in "${ports[@]}"; do
		[[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -gt 0 ] && [ "$p" -lt 65536 ] || die "bad port: $p"
	done
	[ "$2" != "$3" ] && [ "$2" != "$4" ] && [ "$3" != "$4" ] || die "ports must differ: $2 $3 $4"
	t0="$(now)"

	ensure_mariadb
	mkdir -p "$BASE"
	BASE="$(cd "$BASE" && pwd -P)"
	lock

	if [ -f "$BASE/initialized" ]; then
		local recorded
		recorded="$(cat "$BASE/ports")"
		[ "$recorded" = "${ports[*]}" ] ||
			die "$BASE holds a topology on ports $recorded, not ${ports[*]}: stop it and remove $BASE, or use the same ports"
		local started=0
		for i in 0 1 2; do
			if ! server_pid "$i" >/dev/null; then
				wait_dying "$i"
				port_in_use "${ports[$i]}" && die "port ${ports[$i]} for ${NAMES[$i]} is taken by another process"
				launch "$i"
				started=$((started + 1))
			fi
		done
		for i in 0 1 2; do wait_ready "$i" "${ports[$i]}"; done
		if [ "$started" = 0 ]; then
			log "already running in $BASE"
		else
			log "restarted $started server(s) in $BASE from their data"
		fi
		summary "$t0"
		return 0
	fi

	# Fresh, or the remains of a failed start: only our own subdirectories
	# are removed, never BASEDIR itself.
	stop_all
	rm -rf "$BASE/template" "$BASE/template.cnf" "$BASE/ports" "$BASE/install.log"
	for i in 0 1 2; do rm -rf "$(dir_of "$i")" "$(sock_of "$i")"; done
	for i in 0 1 2; do
		port_in_use "${ports[$i]}" && die "port ${ports[$i]} is in use on 127.0.0.1"
	done

	INIT_OK=0
	trap on_exit EXIT

	# One bootstrap, copied three times before any binlog exists: every server
	# starts from identical system tables and an empty GTID history.
	# Each BASEDIR has its own tmpdir: bootstraps running at once in /tmp
	# collide on their temporary tables.
	mkdir -p "$BASE/tmp"
	{ echo "[mariadbd]"; echo "tmpdir=$BASE/tmp"; common_cnf; } >"$BASE/template.cnf"
	local idb=(--defaults-file="$BASE/template.cnf" --datadir="$BASE/template"
		--auth-root-authentication-method=normal --skip-test-db --skip-name-resolve)
	[ "$(id -u)" = 0 ] && idb+=(--user=root)
	if ! mariadb-install-db "${idb[@]}" >"$BASE/install.log" 2>&1 9>&-; then
		tail -n 30 "$BASE/install.log" >&2
		die "mariadb-install-db failed (full output: $BASE/install.log)"
	fi
	for i in 0 1 2; do
		mkdir -p "$(dir_of "$i")"
		cp -a "$BASE/template" "$(dir_of "$i")/data"
		write_cnf "$i" "${ports[$i]}"
	done
	rm -rf "$BASE/template"

	for i in 0 1 2; do launch "$i"; done
	for i in 0 1 2; do wait_ready "$i" "${ports[$i]}"; done

	sql_sock 0 "
		CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION;
		CREATE USER 'app'@'%' IDENTIFIED BY 'app';
		GRANT ALL PRIVILEGES ON *.* TO 'app'@'%';
		REVOKE READ_ONLY ADMIN ON *.* FROM 'app'@'%';
		CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
		GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'repl'@'%';
		CREATE DATABASE IF NOT EXISTS test;
	" || { errtail 0; die "account setup on the primary failed"; }

	for i in 1 2; do
		sql_sock "$i" "
			CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${ports[0]},
				MASTER_USER='repl', MASTER_PASSWORD='repl',
				MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
			START SLAVE;
		" || { errtail "$i"; die "CHANGE MASTER on ${NAMES[$i]} failed"; }
	done

	local pos deadline st io sqlr
	pos="$(sql_sock 0 'SELECT @@gtid_binlog_pos')"
	deadline=$(($(date +%s) + REPL_TIMEOUT))
	for i in 1 2; do
		while :; do
			st="$(slave_status_sock "$i")" || st=""
			io="$(sed -n 's/^ *Slave_IO_Running: //p' <<<"$st")"
			sqlr="$(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$st")"
			[ "$io" = Yes ] && [ "$sqlr" = Yes ] && break
			if [ "$(date +%s)" -ge "$deadline" ]; then
				echo "$st" >&2
				errtail "$i"
				die "${NAMES[$i]}: replication not running within ${REPL_TIMEOUT}s (IO=$io SQL=$sqlr)"
			fi
			sleep 0.1
		done
		local left=$((deadline - $(date +%s)))
		[ "$left" -gt 0 ] || left=1
		if [ "$(sql_sock "$i" "SELECT MASTER_GTID_WAIT('$pos', $left)")" != 0 ]; then
			slave_status_sock "$i" >&2 || true
			die "${NAMES[$i]} did not reach the primary's GTID position $pos within ${REPL_TIMEOUT}s"
		fi
	done

	echo "${ports[*]}" >"$BASE/ports"
	touch "$BASE/initialized"
	INIT_OK=1
	summary "$t0"
}

# role I PORT: primary, replica (with its replication state) or read-only.
role() {
	local st ro io sqlr
	st="$(slave_status_tcp "$2" 2>/dev/null)" || { echo "not answering"; return; }
	if [ -n "$st" ]; then
		io="$(sed -n 's/^ *Slave_IO_Running: //p' <<<"$st")"
		sqlr="$(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$st")"
		echo "replica (IO=$io SQL=$sqlr)"
		return
	fi
	ro="$(sql_tcp "$2" 'SELECT @@read_only' 2>/dev/null)" || ro=""
	if [ "$ro" = 0 ]; then echo "primary"; else echo "read-only, not replicating"; fi
}

summary() {
	local t0=$1 ports i ms
	read -r -a ports <"$BASE/ports"
	ms=$(($(now) - t0))
	printf 'topology %s is up (%d.%01ds)\n' "$BASE" $((ms / 1000)) $((ms % 1000 / 100))
	for i in 0 1 2; do
		printf '  %s 127.0.0.1:%s  %-28s mariadb -h127.0.0.1 -P%s -uroot\n' \
			"${NAMES[$i]}" "${ports[$i]}" "$(role "$i" "${ports[$i]}")" "${ports[$i]}"
	done
	echo "  accounts: root (no password), app/app, repl/repl; database: test"
	echo "  SWITCHYARD_TEST_TOPOLOGY=127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
}

# ---- stop / status -----------------------------------------------------------

cmd_stop() {
	[ $# = 1 ] || usage
	set_base "$1"
	if [ ! -d "$BASE" ]; then
		log "nothing to stop: $BASE does not exist"
		return 0
	fi
	BASE="$(cd "$BASE" && pwd -P)"
	lock
	stop_all
}

cmd_status() {
	[ $# = 1 ] || usage
	set_base "$1"
	[ -d "$BASE" ] || { echo "$1: no topology"; return 1; }
	BASE="$(cd "$BASE" && pwd -P)"
	local ports i pid up=0
	if ! read -r -a ports <"$BASE/ports" 2>/dev/null; then
		echo "$BASE: not initialized"
		return 1
	fi
	echo "topology $BASE"
	for i in 0 1 2; do
		if pid="$(server_pid "$i")"; then
			printf '  %s 127.0.0.1:%s  pid %-8s %s\n' "${NAMES[$i]}" "${ports[$i]}" "$pid" "$(role "$i" "${ports[$i]}")"
			up=$((up + 1))
		else
			printf '  %s 127.0.0.1:%s  stopped\n' "${NAMES[$i]}" "${ports[$i]}"
		fi
	done
	[ "$up" = 3 ]
}

main() {
	[ $# -ge 1 ] || usage
	local cmd=$1
	shift
	case "$cmd" in
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	*) usage ;;
	esac
}

main "$@"
