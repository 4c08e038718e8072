#!/bin/bash
# 25-nowrite.sh -- what a request writes.  Reading requests (GET
# /api/agents, GET /api/messages) and the requests of an agent seen a
# moment ago (a heartbeat) write nothing to the store's log, the
# per-address request limit included (it is kept in memory the processes
# share): presence is written at most once per touch interval (5 s with
# the default online window).  The request limit holds exactly across
# processes and across a restart of chatr (not a reboot); the message
# limit survives a restart.
. "$(dirname "$0")/lib.sh"
SETTINGS=(CHATR_LIMIT_REQUESTS_IP=100000/60 CHATR_LIMIT_REGISTER_IP=off
    CHATR_LIMIT_MSG_UNVERIFIED=1/300)
start_chatr "${SETTINGS[@]}"

# Where the store's log ends, as one number.
logbytes() {
	CHATR_CONFIG=$T/var/chatr.conf "$top_builddir/test/integ/holdlock" lsn |
	    awk '{print $1 * 100000000 + $2}'
}

register writer
K=$KEY
req POST /api/heartbeat '' -H "Authorization: Bearer $K"
expect 200 '.online == true' "a heartbeat (the agent's presence is written)"
req POST /api/messages '{"content":"the one message"}' -H "Authorization: Bearer $K"
expect 200 '.success == true' "a message (the limit allows one per 300 s)"
# (the helper that reads the log's end writes to it as it joins the store;
# what it writes is the same each time)
before=$(logbytes)
self=$(( $(logbytes) - before ))
before=$(logbytes)
bad=0
for i in $(seq 30); do
	req GET /api/agents
	[ "$STATUS" = 200 ] || bad=$((bad + 1))
	req GET /api/messages
	[ "$STATUS" = 200 ] || bad=$((bad + 1))
	req POST /api/heartbeat '' -H "Authorization: Bearer $K"
	[ "$STATUS" = 200 ] || bad=$((bad + 1))
done
check "90 reads and heartbeats answered 200 ($bad not)" test "$bad" = 0
after=$(logbytes)
check "they wrote nothing to the store's log (it ended at $before, then $after; $self of it the helper's)" \
    test "$after" = $((before + self))
req GET /api/agents
expect 200 '.stats.onlineAgents == 1 and .agents[0].name == "writer"' \
    "the agent is online all the same"

sleep 5.2
req POST /api/heartbeat '' -H "Authorization: Bearer $K"
expect 200 '.online == true' "a heartbeat 5 s later"
check "  ... writes the agent's presence again (the log ended at $after, then $(logbytes))" \
    test "$(logbytes)" -gt $((after + self))

# The request limit across the processes: of 80 requests
# fired at once at three programs (several copies each), exactly 50 get
# through.  (The requests above are still counted for this address: the
# shared memory is removed as a reboot would.)
stop_chatr
rm -f "$T/var/run/shared-5"
start_chatr CHATR_LIMIT_REQUESTS_IP=50/60 CHATR_LIMIT_REGISTER_IP=off \
    CHATR_LIMIT_MSG_UNVERIFIED=1/300
pids=()
for i in $(seq 80); do
	case $((i % 3)) in
	0) a=("$BASE/api/agents") ;;
	1) a=("$BASE/api/messages") ;;
	2) a=(-X POST -H 'Content-Length: 0' "$BASE/api/heartbeat") ;;
	esac
	curl -s -o /dev/null -w '%{http_code}\n' "${a[@]}" &
	pids+=($!)
done >"$T/codes"
wait "${pids[@]}"
# (a heartbeat without a key is counted, and answered 401; run.sh's own
# GET /api/agents, until chatr answers, counted too)
n200=$(grep -c '^200$' "$T/codes")
n401=$(grep -c '^401$' "$T/codes")
n429=$(grep -c '^429$' "$T/codes")
through=$((n200 + n401))
check "80 requests at once against a limit of 50: at most 50 through, the rest 429 ($n200 + $n401, $n429)" \
    test "$through" -le 50 -a "$through" -ge 45 -a $((through + n429)) = 80
req GET /api/agents
expect_error 429 "the next request is refused"
check "  ... with Retry-After" test -n "$(header Retry-After)"

# A restart: both limits hold (the request limit's memory is kept until the
# machine reboots) (and run.sh sees chatr answer all the same).
stop_chatr
start=$(date +%s)
start_chatr CHATR_LIMIT_REQUESTS_IP=50/60 CHATR_LIMIT_REGISTER_IP=off \
    CHATR_LIMIT_MSG_UNVERIFIED=1/300
check "chatr restarts at once with the address over its limit ($(($(date +%s) - start)) s)" \
    test $(($(date +%s) - start)) -le 10
req GET /api/agents
expect_error 429 "after a restart the request limit still holds"
stop_chatr
start_chatr "${SETTINGS[@]}"
req POST /api/messages '{"content":"a second message"}' -H "Authorization: Bearer $K"
expect_error 429 "the message limit survived the restart"

# Without the shared memory (here its file cannot be opened) the request
# limit is kept in the store, as exactly.
stop_chatr
rm -f "$T/var/run/shared-5"
mkdir "$T/var/run/shared-5"
start_chatr CHATR_LIMIT_REQUESTS_IP=5/60 CHATR_LIMIT_REGISTER_IP=off
codes=
for i in $(seq 6); do
	req GET /api/messages
	codes="$codes $STATUS"
done
check "without shared memory, 6 requests against 5/60: the 6th or an earlier one is 429 (got$codes)" \
    sh -c "echo '$codes' | grep -q 429"
check "  ... and at most 5 got through (run.sh's own request counted)" \
    test "$(echo "$codes" | tr ' ' '\n' | grep -c '^200$')" -le 4
check "  ... the log says why" grep -q "shared-5" "$T/var/log/chatr.log"
stop_chatr
rmdir "$T/var/run/shared-5"
