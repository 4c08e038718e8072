#!/bin/bash
# 72-stuck.sh -- one process's death costs only what it was doing, and never
# leaves the store stuck:
#   - a process that dies outside Berkeley DB holding a write lock: while
#     it lives, others get a JSON 503 after a few seconds (nobody waits for
#     a lock); once it is dead the next request's failchk frees its locks,
#     and nobody else notices: no recovery, the stream goes on;
#   - a process that dies inside Berkeley DB holding a mutex: the next
#     process to join runs recovery, a process left waiting on that mutex
#     in the old regions is ended by its watchdog within seconds (it is
#     not left for CHATR_WATCHDOG), and everything answers again;
#   - a join queued behind a slow one, with nothing dead, waits its turn
#     and leaves the store alone;
#   - a join that cannot finish (the registry held by a process stuck in
#     the failchk of one that died): the process leaves a marker and exits
#     within seconds, and the next process to join recovers the store and
#     removes the marker.
# Also: the settings check refuses a bad value.
. "$(dirname "$0")/lib.sh"
holdlock=$top_builddir/test/integ/holdlock

# hold MODE [ARG]: start the helper and wait for its first line; sets HOLD.
hold() {
	local out=$T/$1.out
	# (gone first: the helper's shell may truncate an earlier helper's
	# output only after wait_for has read it)
	rm -f "$out"
	"$holdlock" "$@" >"$out" 2>"$T/$1.err" &
	HOLD=$!
	wait_for 10 grep -q . "$out"
}

# heartbeats_ok TRIES: heartbeats until ten in a row answer 200.
heartbeats_ok() {
	local i good=0
	for i in $(seq 1 "$1"); do
		req POST /api/heartbeat "" -H "Authorization: Bearer $key"
		if [ "$STATUS" = 200 ]; then
			good=$((good + 1))
			[ $good -ge 10 ] && return 0
		else
			good=0
			sleep 0.2
		fi
	done
	return 1
}

recoveries() {
	grep -c "Thread died in Berkeley DB\|it is recovered" "$T/var/log/chatr.log" || :
}
# (holdlock's own log goes to .err files here, the programs' to chatr.log)

start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_WATCHDOG=30
export CHATR_CONFIG=$T/var/chatr.conf

register Stuckbot
expect 200 '.success == true' "an agent registers"
key=$KEY
stream_open s1
stream_wait s1 '.[0].type == "history"' 10

# --- a death outside Berkeley DB, holding a write lock -----------------------
hold idle
check "the helper holds a write lock in agents.db" grep -q locked "$T/idle.out"
start=$(date +%s)
req POST /api/heartbeat "" -H "Authorization: Bearer $key"
took=$(($(date +%s) - start))
expect_error 503 "while the holder lives, a heartbeat gives up with a JSON 503 ($took s)"
check "  ... within a few seconds, not at the watchdog's 30" test "$took" -le 6
check "  ... with Retry-After" test -n "$(header Retry-After)"
before=$(recoveries)
kill -KILL "$HOLD"
wait "$HOLD" 2>/dev/null || :
start=$(date +%s%N)
req POST /api/heartbeat "" -H "Authorization: Bearer $key"
took=$((($(date +%s%N) - start) / 1000000))
expect 200 '. == {"success":true,"online":true}' \
    "once it is dead, the next heartbeat frees its locks and answers ($took ms)"
check "ten heartbeats in a row answer 200" heartbeats_ok 20
check "nobody ran recovery for that death" test "$(recoveries)" = "$before"
check "no program had to reopen the store" bash -c "! grep -q 'reopening the store' '$T/var/log/chatr.log'"

# --- a death inside Berkeley DB, holding a mutex -----------------------------
hold inside
mutex=$(awk '/^locked/ {print $2}' "$T/inside.out")
check "the helper holds a mutex inside Berkeley DB ($mutex)" test -n "$mutex"
inside=$HOLD
hold waiter "$mutex"
waiter=$HOLD
sleep 0.5
check "a second helper waits for that mutex" kill -0 "$waiter"
kill -KILL "$inside"
wait "$inside" 2>/dev/null || :
check "a newcomer joins the store after the death (and recovers it)" \
    bash -c "'$holdlock' open 2>'$T/newcomer.err'"
check "  ... it found the process that died inside Berkeley DB" \
    grep -q "Thread died in Berkeley DB" "$T/newcomer.err"
start=$(date +%s)
wait "$waiter"
st=$?
took=$(($(date +%s) - start))
check "the waiter left in the old regions is ended by its watchdog (status $st, $took s)" \
    test "$st" = 75 -a "$took" -le 5
check "  ... saying why" grep -q "stuck in a store that another process recovered" "$T/waiter.err"
check "heartbeats answer 200 again" heartbeats_ok 100

# --- a slow join ---------------------------------------------------------------
# An opener queued for seconds behind another, with nothing dead in the
# store, waits its turn: it does not leave the store for recovery.
hold registry 3
holder=$HOLD
start=$(date +%s)
"$holdlock" open >"$T/open0.out" 2>"$T/open0.err"
st=$?
took=$(($(date +%s) - start))
wait "$holder" 2>/dev/null || :
check "a join queued 3 s behind a slow one waits its turn (status $st, $took s)" \
    test "$st" = 0 -a "$took" -ge 2
check "  ... and leaves no marker for recovery" test ! -e "$T/var/run/store-recover"
check "heartbeats answer 200 after it" heartbeats_ok 100

# --- a join that cannot finish ---------------------------------------------------
hold registry
holder=$HOLD
start=$(date +%s)
"$holdlock" open >"$T/open1.out" 2>"$T/open1.err"
st=$?
took=$(($(date +%s) - start))
check "a join stuck on the registry ends within seconds (status $st, $took s)" \
    test "$st" = 75 -a "$took" -le 8
check "  ... and leaves the store marked for recovery" test -e "$T/var/run/store-recover"
kill -KILL "$holder"
wait "$holder" 2>/dev/null || :
check "the next process to join recovers it" \
    bash -c "'$holdlock' open 2>'$T/open2.err'"
check "  ... and removes the marker" test ! -e "$T/var/run/store-recover"
check "  ... saying so" grep -q "left marked for recovery" "$T/open2.err"
check "heartbeats answer 200 after it" heartbeats_ok 100

# Nothing was lost, and the stream goes on.
req GET /api/agents
expect 200 '.stats.totalAgents == 1 and ([.agents[].name] == ["Stuckbot"])' \
    "the store holds the one agent and no trace of the helpers' writes"
post "$key" "after the stalls"
expect 200 '.success == true' "a message posts"
check "the open stream receives it" stream_wait s1 \
    'map(select(.type == "message" and .data.content == "after the stalls")) | length == 1' 15
stream_close s1

# A bad setting is refused.
check "CHATR_WATCHDOG=abc is refused" \
    bash -c "! CHATR_WATCHDOG=abc '$top_builddir/sse-relay/chatr-sse-relay' -t -c '$CHATR_CONFIG' >/dev/null 2>&1"
