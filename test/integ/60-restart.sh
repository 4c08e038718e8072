#!/bin/bash
# 60-restart.sh -- the store outlives the processes: after a clean stop
# and start (same CHATR_VAR) old keys still authenticate, names are still
# taken (in any case), the stats, the online list and the messages are
# unchanged; after a crash (kill -9 of every process of the instance, also
# in the middle of registrations) the store recovers and nothing that was
# acknowledged is lost.
. "$(dirname "$0")/lib.sh"
SETTINGS=(CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off
    CHATR_LIMIT_MSG_UNVERIFIED=off)
start_chatr "${SETTINGS[@]}"

# descendants PID: every process below PID.
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}
# crash: kill -9 run.sh and everything it started (this instance only).
crash() {
	all="$RUNPID $(descendants "$RUNPID")"
	kill -9 $all 2>/dev/null
	wait "$RUNPID" 2>/dev/null
	RUNPID=
	local i=0
	while [ $i -lt 50 ] && ! all_dead >/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
}
# all_dead: none of the processes crash killed is still running (zombies
# waiting for their reaper do not count).
all_dead() {
	local p st
	for p in $all; do
		st=$(ps -o stat= -p "$p" 2>/dev/null) || continue
		case $st in
		Z*) ;;
		*) ps -o pid,args -p "$p"; return 1 ;;
		esac
	done
	return 0
}
# works KEY DESC: the key authenticates.
works() {
	req POST /api/heartbeat '' -H "Authorization: Bearer $1"
	expect 200 '. == {"success":true,"online":true}' "$2"
}

req POST /api/register '{"name":"alpha","avatar":"🐺"}'
expect 200 '.success == true' "register alpha"
KA=$(jq -r .agent.apiKey <<<"$BODY")
IA=$(jq -r .agent.id <<<"$BODY")
register beta
KB=$KEY
IB=$ID
register gamma
KG=$KEY
works "$KA" "alpha heartbeats"
works "$KB" "beta heartbeats"
req POST /api/messages '{"content":"before the restart"}' -H "Authorization: Bearer $KA"
expect 200 '.success == true' "alpha posts"
M1=$(jq -r .message.id <<<"$BODY")
req GET /api/agents
expect 200 '.stats == {totalAgents:3,onlineAgents:2,totalMessages:1}' "before: 3 agents, 2 online, 1 message"

# A clean restart.
stop_chatr
start_chatr "${SETTINGS[@]}"
req GET /api/agents
expect 200 '.stats == {totalAgents:3,onlineAgents:2,totalMessages:1}' "after a restart: the same stats"
expect 200 "([.agents[].id] | sort) == ([\"$IA\",\"$IB\"] | sort)" "  ... and the same agents online"
expect 200 "any(.agents[]; .id == \"$IA\" and .name == \"alpha\" and .avatar == \"🐺\")" \
    "  ... with their names and avatars"
works "$KA" "alpha's key still works"
works "$KB" "beta's key still works"
works "$KG" "gamma's key still works"
req GET /api/agents
expect 200 '.stats.onlineAgents == 3 and .stats.totalAgents == 3' "gamma is online now; still 3 agents"
for n in alpha ALPHA Beta gAmMa; do
	req POST /api/register "{\"name\":\"$n\"}"
	expect_error 409 "the name $n is still taken"
done
req GET /api/messages
expect 200 "(.messages | length == 1) and .messages[0].id == \"$M1\" and .messages[0].content == \"before the restart\" and .messages[0].agentId == \"$IA\"" \
    "the message is still there"
register delta
expect 200 '.success == true' "a new agent registers after the restart"
KD=$KEY
works "$KD" "its key works"
# (the answer may be up to a second old: skills.md)
four() { req GET /api/agents; [ "$(printf '%s' "$BODY" | jq .stats.totalAgents)" = 4 ]; }
wait_for 3 four
expect 200 '.stats.totalAgents == 4' "4 agents now"

# A crash: every process killed at once.
crash
check "no process of the instance is left ($(wc -w <<<"$all") killed)" all_dead
start_chatr "${SETTINGS[@]}"
req GET /api/agents
expect 200 '.stats.totalAgents == 4 and .stats.totalMessages == 1' "after a crash: the same totals"
for k in "$KA" "$KB" "$KG" "$KD"; do
	works "$k" "key ${k:0:12}... works after the crash"
done
req POST /api/register '{"name":"DELTA"}'
expect_error 409 "delta is still taken after the crash"
req POST /api/messages '{"content":"after the crash"}' -H "Authorization: Bearer $KB"
expect 200 ".success == true and (.message.id | tonumber) > ($M1 | tonumber)" \
    "a new message gets a larger id than the one before the crash"

# A crash in the middle of registrations: whatever was acknowledged is
# there, and the count of agents matches the names taken.
: >"$T/acked"
: >"$T/tried"
(
	for i in $(seq 1 200); do
		echo "$i" >"$T/tried.new" && mv "$T/tried.new" "$T/tried"
		r=$(curl -s --max-time 5 -H 'Content-Type: application/json' \
		    --data-binary "{\"name\":\"crash$i\"}" "$BASE/api/register") || continue
		k=$(jq -r '.agent.apiKey // empty' <<<"$r" 2>/dev/null)
		[ -n "$k" ] && echo "crash$i $k" >>"$T/acked"
	done
) &
loop=$!
sleep 1
crash
kill "$loop" 2>/dev/null
wait "$loop" 2>/dev/null
acked=$(wc -l <"$T/acked")
tried=$(cat "$T/tried")
check "some registrations were acknowledged before the crash ($acked)" test "$acked" -gt 0
start_chatr "${SETTINGS[@]}"
bad=0
while read -r n k; do
	req POST /api/heartbeat '' -H "Authorization: Bearer $k"
	[ "$STATUS" = 200 ] || { bad=$((bad + 1)); echo "# $n: key refused ($STATUS $BODY)"; }
done <"$T/acked"
check "every acknowledged key works after the crash ($bad refused)" test "$bad" = 0
taken=0
for i in $(seq 1 "$tried"); do
	req POST /api/register "{\"name\":\"CRASH$i\"}"
	case $STATUS in
	409) taken=$((taken + 1)) ;;
	200) ;;
	*) echo "# CRASH$i: $STATUS $BODY" ;;
	esac
done
check "every acknowledged name is taken ($taken of $tried tried taken, $acked acknowledged)" test "$taken" -ge "$acked"
check "at most one registration was stored but not acknowledged" test "$taken" -le $((acked + 1))
req GET /api/agents
expect 200 ".stats.totalAgents == (4 + $tried)" \
    "totalAgents counts exactly the agents stored"
