#!/bin/bash
# peer-node.sh -- stand up the original chatr (Node + Express + PostgreSQL),
# the peer chatr's request rates are measured against, as
# ../shared/bench/PEERS.md describes it: a scratch copy under /tmp/peerbench
# taken from its git mirror, limits lifted, loopback only, its own
# PostgreSQL cluster on 127.0.0.1:5433.  No peer code is kept in this
# repository.
#
# usage: bench/peer-node.sh start|fresh|stop
#   start  set it up if needed and start it (port PEER_PORT, 8080)
#   fresh  start it again on an empty database
#   stop   stop it and its PostgreSQL
# Settings: PEER_MIRROR (a bare git mirror of github:dragon-bot-z/chatr-ai;
#   default /work/.mirror/dragon-bot-z+chatr-ai/repo), PEER_PORT (8080).
set -eu
P=/tmp/peerbench
MIRROR=${PEER_MIRROR:-/work/.mirror/dragon-bot-z+chatr-ai/repo}
PORT=${PEER_PORT:-8080}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PGDATA=$P/pg/data
pgopts="-c listen_addresses=127.0.0.1 -p 5433 -c unix_socket_directories=$P/pg/sock"
log() { echo "peer-node: $*" >&2; }

need() {
	local missing=
	command -v node >/dev/null || missing="$missing nodejs npm"
	[ -n "$PGBIN" ] || missing="$missing postgresql"
	command -v psql >/dev/null || missing="$missing postgresql-client"
	if [ -n "$missing" ]; then
		log "installing$missing"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
		PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	fi
}

setup() {
	need
	if [ ! -f $P/chatr/server.js.orig ]; then
		[ -d "$MIRROR" ] || { log "no mirror at $MIRROR (set PEER_MIRROR)"; exit 1; }
		mkdir -p $P/chatr
		git --git-dir="$MIRROR" archive HEAD | tar -x -C $P/chatr
		cd $P/chatr
		cp server.js server.js.orig
		# limits lifted, loopback only: the six edits of PEERS.md
		sed -i -E 's/(messagesPerMinute|registersPerHour|requestsPerMinute): [0-9]+,/\1: 1000000000,/; s/(maxSseConnections|maxSsePerIp): [0-9]+,/\1: 100000,/' server.js
		sed -i "s/app.listen(PORT, () => {/app.listen(PORT, process.env.HOST || '127.0.0.1', () => {/" server.js
		n=$(diff server.js.orig server.js | grep -c '^>' || true)
		[ "$n" = 6 ] || { log "expected 6 changed lines, got $n"; exit 1; }
	fi
	if [ ! -d $P/chatr/node_modules/express ]; then
		cd $P/chatr
		npm install --no-audit --no-fund >/dev/null 2>&1 || {
			log "npm install failed; trying without viem"
			sed -i '/"viem"/d; s/"uuid": "\([^"]*\)",/"uuid": "\1"/' package.json
			npm install --no-audit --no-fund >/dev/null
		}
	fi
	if [ ! -f $PGDATA/PG_VERSION ]; then
		mkdir -p $P/pg/sock
		chown -R postgres:postgres $P/pg
		chmod 755 $P
		su postgres -c "$PGBIN/initdb -D $PGDATA --auth=trust -U postgres" >/dev/null
	fi
}

pg_up() {
	if ! su postgres -c "$PGBIN/pg_ctl -D $PGDATA status" >/dev/null 2>&1; then
		su postgres -c "$PGBIN/pg_ctl -D $PGDATA -l $P/pg/server.log -o \"$pgopts\" -w start" >/dev/null
	fi
}

node_stop() {
	local pid
	if [ -f $P/chatr.pid ] && pid=$(cat $P/chatr.pid) && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f $P/chatr.pid
}

node_start() {
	cd $P/chatr
	ulimit -n 20000 2>/dev/null || true
	DATABASE_URL=postgres://postgres@127.0.0.1:5433/chatr PORT=$PORT HOST=127.0.0.1 \
	    setsid node server.js >>$P/chatr.log 2>&1 </dev/null &
	echo $! >$P/chatr.pid
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && {
			log "running on 127.0.0.1:$PORT, pid $(cat $P/chatr.pid)"
			return 0
		}
		sleep 0.2
	done
	log "did not start; see $P/chatr.log"
	exit 1
}

case ${1:-} in
start)
	setup
	pg_up
	psql -q -h 127.0.0.1 -p 5433 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='chatr'" |
	    grep -q 1 || psql -q -h 127.0.0.1 -p 5433 -U postgres -c "CREATE DATABASE chatr;"
	node_stop
	node_start
	;;
fresh)
	setup
	pg_up
	node_stop
	psql -q -h 127.0.0.1 -p 5433 -U postgres -c "DROP DATABASE IF EXISTS chatr;" -c "CREATE DATABASE chatr;"
	node_start
	;;
stop)
	node_stop
	[ -n "$PGBIN" ] && [ -f $PGDATA/PG_VERSION ] &&
	    su postgres -c "$PGBIN/pg_ctl -D $PGDATA -m fast stop" >/dev/null 2>&1 || true
	;;
*)
	echo "usage: $0 start|fresh|stop" >&2
	exit 2
	;;
esac
