#!/usr/bin/env bash
# demo.sh — a MariaDB primary with two replicas and one switchyard in front of
# them, left running on 127.0.0.1:6033.
#
#   scripts/demo.sh [start]   start (or keep) the demo; idempotent
#   scripts/demo.sh stop      stop switchyard and the demo topology
#   scripts/demo.sh status
#
# switchyard is restarted only when its binary or config changed since it was
# started; otherwise a second run just checks it and prints how to connect.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd -P)"
# DEMO_DIR, DEMO_PORTS, DEMO_LISTEN and DEMO_ADMIN move the demo (e.g. to
# run a second one beside it); the defaults are what the README shows.
DIR="${DEMO_DIR:-$ROOT/.topology/demo}"
read -r -a PORTS <<<"${DEMO_PORTS:-3401 3402 3403}"
LISTEN="${DEMO_LISTEN:-127.0.0.1:6033}"
ADMIN="${DEMO_ADMIN:-127.0.0.1:9090}"
CONF="$DIR/switchyard.yaml"
PIDF="$DIR/switchyard.pid"
LOG="$DIR/switchyard.log"
SUMF="$DIR/switchyard.sum"
BIN="$ROOT/bin/switchyard"
export PATH="$PATH:/usr/local/go/bin"

log() { echo "demo: $*" >&2; }
die() { echo "demo: ERROR: $*" >&2; exit 1; }

# proxy_pid prints the pid of the switchyard this script started, if it runs.
proxy_pid() {
	local pid cmd
	[ -s "$PIDF" ] || return 1
	pid="$(tr -dc '0-9' 2>/dev/null <"$PIDF")" || return 1
	[ -n "$pid" ] || return 1
	cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
	case "$cmd" in
	*"--config $CONF "*) echo "$pid" ;;
	*) return 1 ;;
	esac
}

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

stop_proxy() {
	local pid deadline
	pid="$(proxy_pid)" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(date +%s) + 10))
	while proxy_pid >/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "switchyard (pid $pid) did not exit within 10s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$PIDF"
	log "stopped switchyard (pid $pid)"
}

write_config() {
	cat >"$1" <<EOF
# written by scripts/demo.sh
listen: $LISTEN
admin_listen: $ADMIN
region: eu-west
zone: eu-west-1a
users:
  - {name: app, password: app}
monitor: {user: root, password: ""}
backends:
  - {name: db1, address: 127.0.0.1:${PORTS[0]}, region: eu-west, zone: eu-west-1a}
  - {name: db2, address: 127.0.0.1:${PORTS[1]}, region: eu-west, zone: eu-west-1b}
  - {name: db3, address: 127.0.0.1:${PORTS[2]}, region: eu-west, zone: eu-west-1c}
failover:
  # The topology's replication account (scripts/topology.sh creates
  # repl/repl): after a switchover the old primary replicates from the new
  # one with it, and so does a failed primary that comes back (auto_rejoin).
  replication_user: repl
  replication_password: repl
  auto_rejoin: true
  # Every promotion keeps semi-synchronous replication on, so that a
  # failover loses no acknowledged write (enable_semi_sync starts it).
  semi_sync: true
EOF
}

# sql PORT STATEMENT runs a statement as root on a demo server.
sql() { mariadb --no-defaults -h127.0.0.1 -P"$1" -uroot -N -B -e "$2"; }

# is_primary PORT: writable and not replicating.
is_primary() {
	[ "$(sql "$1" 'SELECT @@read_only')" = 0 ] && [ -z "$(sql "$1" 'SHOW SLAVE STATUS')" ]
}

# enable_semi_sync turns on semi-synchronous replication on the servers as
# they are now (whichever is primary after an earlier switchover), as a
# promotion with failover.semi_sync does; a primary left without semi-sync
# replicas goes back to asynchronous commits after 2s. Idempotent.
enable_semi_sync() {
	local port
	for port in "${PORTS[@]}"; do
		sql "$port" 'SET GLOBAL rpl_semi_sync_master_timeout = 2000'
		if is_primary "$port"; then
			sql "$port" 'SET GLOBAL rpl_semi_sync_master_enabled = 1'
		elif [ "$(sql "$port" 'SELECT @@rpl_semi_sync_slave_enabled')" != 1 ]; then
			sql "$port" 'SET GLOBAL rpl_semi_sync_slave_enabled = 1; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD'
		fi
	done
}

cmd_start() {
	scripts/topology.sh start "$DIR" "${PORTS[@]}"
	enable_semi_sync

	log "building bin/switchyard"
	mkdir -p bin
	go build -o "$BIN" ./cmd/switchyard

	local newconf sum
	newconf="$(mktemp "$DIR/switchyard.yaml.XXXXXX")"
	write_config "$newconf"
	sum="$(cat "$BIN" "$newconf" | sha256sum | cut -d' ' -f1)"

	if pid="$(proxy_pid)"; then
		if [ "$sum" = "$(cat "$SUMF" 2>/dev/null)" ] && port_open "$LISTEN"; then
			rm -f "$newconf"
			log "switchyard already running (pid $pid), same binary and config"
			info "$pid"
			return 0
		fi
		log "binary or config changed: restarting switchyard"
		stop_proxy
	fi
	mv "$newconf" "$CONF"

	port_open "$LISTEN" && die "$LISTEN is taken by another process (not the demo's switchyard)"
	port_open "$ADMIN" && die "$ADMIN is taken by another process (not the demo's switchyard)"

	echo "---- $(date -Is) start" >>"$LOG"
	nohup "$BIN" --config "$CONF" </dev/null >>"$LOG" 2>&1 &
	local pid=$!
	echo "$pid" >"$PIDF"
	echo "$sum" >"$SUMF"

	local deadline=$(($(date +%s) + 30))
	until port_open "$LISTEN"; do
		if ! proxy_pid >/dev/null; then
			tail -n 30 "$LOG" >&2
			die "switchyard exited during startup (log: $LOG)"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			tail -n 30 "$LOG" >&2
			die "switchyard did not listen on $LISTEN within 30s (log: $LOG)"
		fi
		sleep 0.1
	done
	info "$pid"
}

info() {
	local out
	if out="$(mariadb --no-defaults -h127.0.0.1 -P"${LISTEN##*:}" -uapp -papp --connect-timeout=5 \
		-N -B -e 'SELECT @@hostname, @@port' test 2>&1)"; then
		log "a query through the proxy answered: $out"
	else
		log "WARNING: switchyard listens, but a query through it failed: $out"
	fi
	cat <<EOF

switchyard is running (pid $1) on $LISTEN, admin on http://$ADMIN
  DSN:     app:app@tcp($LISTEN)/test
  client:  mariadb -h127.0.0.1 -P${LISTEN##*:} -uapp -papp test
  config:  $CONF
  log:     $LOG
  status:  bin/switchyard status --admin $ADMIN
  stop:    make stop
  servers (root without password), as the proxy sees them now:
$(servers | sed 's/^/    /')
EOF
}

# servers prints the topology as the running proxy sees it (after a
# switchover the primary is no longer the first port), or, when the proxy
# does not answer, what each server says of itself.
servers() {
	local port role
	if "$BIN" status --admin "$ADMIN" --digests 0 2>/dev/null; then
		return
	fi
	for port in "${PORTS[@]}"; do
		role=replica
		is_primary "$port" 2>/dev/null && role=primary
		echo "127.0.0.1:$port $role"
	done
}

cmd_stop() {
	stop_proxy
	scripts/topology.sh stop "$DIR"
}

cmd_status() {
	local pid rc=0
	if pid="$(proxy_pid)"; then
		echo "switchyard: pid $pid on $LISTEN"
	else
		echo "switchyard: not running"
		rc=1
	fi
	scripts/topology.sh status "$DIR" || rc=1
	return "$rc"
}

case "${1:-start}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	echo "usage: scripts/demo.sh [start|stop|status]" >&2
	exit 2
	;;
esac
