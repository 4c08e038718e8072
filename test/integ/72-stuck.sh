#!/bin/bash
# 72-stuck.sh -- a process that dies holding a store lock must not leave
# others waiting for ever.  A helper writes into agents.db in a transaction
# it never commits; a heartbeat then waits for that lock; the helper is
# killed with SIGKILL and a new process joins the store, which runs
# recovery (as when lighttpd starts a program in place of a dead one).  The
# waiting program is left on the old, abandoned lock region, where nothing
# can wake it: its watchdog (CHATR_WATCHDOG seconds) ends it, lighttpd
# starts a fresh one and the endpoint answers again.  Then a helper dies
# holding the lock outside Berkeley DB and nobody joins the store: the
# waiting request gives up after the 3 s lock timeout with a 503, and the
# program joins the store again, which recovers it.  Also: the relay keeps
# streaming throughout, and the settings check refuses a bad value.
. "$(dirname "$0")/lib.sh"
holdlock=$top_builddir/test/integ/holdlock

# hold MODE: start the helper and wait until it holds the lock; sets HOLD.
hold() {
	"$holdlock" "$1" >"$T/$1.out" 2>"$T/$1.err" &
	HOLD=$!
	wait_for 10 grep -q locked "$T/$1.out"
}

# heartbeat_bg: a heartbeat in the background, answer in $T/hb.*; sets HB.
heartbeat_bg() {
	curl -s -o "$T/hb.body" -w '%{http_code}' --max-time 60 -X POST \
	    -H "Authorization: Bearer $key" -H 'Content-Length: 0' \
	    "$BASE/api/heartbeat" >"$T/hb.status" 2>/dev/null &
	HB=$!
}

# heartbeats_recover TRIES: heartbeats until ten in a row answer 200.
heartbeats_recover() {
	local i good=0
	for i in $(seq 1 "$1"); do
		req POST /api/heartbeat "" -H "Authorization: Bearer $key"
		if [ "$STATUS" = 200 ]; then
			good=$((good + 1))
			[ $good -ge 10 ] && return 0
		else
			good=0
			sleep 0.3
		fi
	done
	return 1
}

start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_WATCHDOG=5
export CHATR_CONFIG=$T/var/chatr.conf

register Stuckbot
expect 200 '.success == true' "an agent registers"
key=$KEY
stream_open s1

# The helper takes the lock.
hold hold
check "the helper holds a write lock in agents.db" grep -q locked "$T/hold.out"

# A heartbeat waits for it.
heartbeat_bg
sleep 1
check "the heartbeat is waiting for the lock" kill -0 "$HB"

# The helper dies; a newcomer joins the store and recovers it.
kill -KILL "$HOLD"
wait "$HOLD" 2>/dev/null || :
check "a new process joins the store after the death (recovery)" \
    "$holdlock" open
start=$(date +%s)
wait "$HB" || :
took=$(($(date +%s) - start))
hbstatus=$(cat "$T/hb.status")
check "the waiting request ends within 20 s, not at curl's 60 s ($took s)" \
    test "$took" -lt 20
STATUS=$hbstatus BODY=$(cat "$T/hb.body")
case $STATUS in
200) expect 200 '.success == true' "the waiting heartbeat answers as JSON" ;;
5??) expect_error "$STATUS" "the waiting heartbeat answers as a JSON error ($STATUS)" ;;
*) not_ok "the waiting heartbeat answers" "no answer (status $STATUS)" ;;
esac

# The endpoint recovers: every heartbeat answers 200 again.
check "ten heartbeats in a row answer 200" heartbeats_recover 100
expect 200 '.success == true' "heartbeats answer 200 again"
check "the program's log says the watchdog ended it" \
    grep -rq "watchdog" "$T/var/log"

# A death outside Berkeley DB that nobody notices.
hold idle
check "a second helper holds the lock, outside Berkeley DB" \
    grep -q locked "$T/idle.out"
heartbeat_bg
sleep 1
kill -KILL "$HOLD"
wait "$HOLD" 2>/dev/null || :
start=$(date +%s)
wait "$HB" || :
took=$(($(date +%s) - start))
STATUS=$(cat "$T/hb.status") BODY=$(cat "$T/hb.body")
expect_error 503 "the waiting heartbeat gives up with a JSON 503 ($took s)"
check "the program joined the store again" \
    grep -q "a lock wait timed out; reopening the store" "$T/var/log/chatr.log"
check "ten heartbeats in a row answer 200 again" heartbeats_recover 50

# Nothing was lost, and the stream goes on.
req GET /api/agents
expect 200 '.stats.totalAgents == 1 and ([.agents[].name] == ["Stuckbot"])' \
    "the store holds the one agent and no trace of the helper's write"
post "$key" "after the stall"
expect 200 '.success == true' "a message posts"
check "the open stream receives it" stream_wait s1 \
    'map(select(.type == "message" and .data.content == "after the stall")) | length == 1'
stream_close s1

# A bad setting is refused.
check "CHATR_WATCHDOG=abc is refused" \
    bash -c "! CHATR_WATCHDOG=abc '$top_builddir/sse-relay/chatr-sse-relay' -t -c '$CHATR_CONFIG' >/dev/null 2>&1"
