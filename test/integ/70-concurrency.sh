#!/bin/bash
# 70-concurrency.sh -- many processes, one store: 50 registrations at once
# from 50 addresses, 25 names each sent twice in different letter case
# (exactly one 200 per name, the rest 409, totalAgents exact, every key
# works); then FastCGI programs of this instance are killed with SIGKILL
# while registrations and heartbeats run: every answer stays JSON, chatrd
# starts the programs again, the others go on and the agent count matches
# what was stored.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off

# --- 50 registrations at once ----------------------------------------------
mkdir -p "$T/c"
pids=()
for i in $(seq 0 49); do
	j=$((i / 2 + 1))
	if [ $((i % 2)) = 0 ]; then name="Same$j"; else name="sAME$j"; fi
	echo "$name" >"$T/c/$i.name"
	(
		while [ ! -e "$T/c/go" ]; do sleep 0.01; done
		curl -s -o "$T/c/$i.body" -w '%{http_code}' --max-time 30 \
		    --interface "127.0.0.$((10 + i))" \
		    -H 'Content-Type: application/json' \
		    --data-binary "{\"name\":\"$name\"}" "$BASE/api/register" \
		    >"$T/c/$i.status" 2>/dev/null || echo 000 >"$T/c/$i.status"
	) &
	pids+=($!)
done
sleep 0.3
touch "$T/c/go"
wait "${pids[@]}"

# One line per answer: index, lower-case name, status, key or -.
for i in $(seq 0 49); do
	n=$(cat "$T/c/$i.name")
	s=$(cat "$T/c/$i.status")
	k=$(jq -r '.agent.apiKey // "-"' "$T/c/$i.body" 2>/dev/null || echo -)
	echo "$i $(tr A-Z a-z <<<"$n") $s $k"
done >"$T/c/all"

answers_ok() {
	local i s n fail=0
	for i in $(seq 0 49); do
		s=$(cat "$T/c/$i.status")
		n=$(cat "$T/c/$i.name")
		case $s in
		200) jq -e --arg n "$n" '.success == true and .agent.name == $n and (.agent.apiKey | test("^chatr_[0-9a-f]{32}$")) and (.agent.id | type == "string")' "$T/c/$i.body" >/dev/null ;;
		409) jq -e '.success == false and (.error | type == "string" and length > 0)' "$T/c/$i.body" >/dev/null ;;
		*) false ;;
		esac || { echo "answer $i ($n): $s $(head -c 300 "$T/c/$i.body")"; fail=1; }
	done
	return $fail
}
check "every one of the 50 answers is a 200 or a 409, as JSON" answers_ok
one_each() {
	local bad
	bad=$(awk '$3 == 200 {n[$2]++} {seen[$2] = 1} END {for (k in seen) if (n[k] != 1) print k, n[k] + 0}' "$T/c/all")
	[ -z "$bad" ] || { echo "names with other than one 200: $bad"; return 1; }
}
check "exactly one 200 for each of the 25 names (without regard to case)" one_each
n200=$(awk '$3 == 200' "$T/c/all" | wc -l)
n409=$(awk '$3 == 409' "$T/c/all" | wc -l)
check "25 registered, 25 refused (got $n200 and $n409)" test "$n200:$n409" = 25:25
keys_distinct=$(awk '$3 == 200 {print $4}' "$T/c/all" | sort -u | wc -l)
check "25 different keys" test "$keys_distinct" = 25
ids_distinct=$(cat "$T"/c/*.body | jq -r '.agent.id // empty' 2>/dev/null | sort -u | wc -l)
check "25 different ids" test "$ids_distinct" = 25
req GET /api/agents
expect 200 ".stats.totalAgents == $n200 and .stats.onlineAgents == 0" \
    "totalAgents equals the number of 200s ($n200)"

# Every key works, also when all heartbeat at once.
mkdir -p "$T/h"
pids=()
while read -r i n s k; do
	[ "$s" = 200 ] || continue
	curl -s -o "$T/h/$i.body" -w '%{http_code}' --max-time 30 -X POST \
	    -H 'Content-Length: 0' -H "Authorization: Bearer $k" \
	    --interface "127.0.0.$((10 + i))" "$BASE/api/heartbeat" \
	    >"$T/h/$i.status" 2>/dev/null &
	pids+=($!)
done <"$T/c/all"
wait "${pids[@]}"
hb_ok() {
	local f fail=0 i
	for f in "$T"/h/*.status; do
		i=$(basename "$f" .status)
		[ "$(cat "$f")" = 200 ] && jq -e '. == {"success":true,"online":true}' "$T/h/$i.body" >/dev/null ||
		    { echo "heartbeat $i: $(cat "$f") $(head -c 300 "$T/h/$i.body")"; fail=1; }
	done
	[ "$(ls "$T"/h/*.status | wc -l)" = 25 ] || { echo "not 25 heartbeats"; fail=1; }
	return $fail
}
check "every returned key works: 25 concurrent heartbeats answer 200" hb_ok
req GET /api/agents
expect 200 '.stats.onlineAgents == 25 and (.agents | length == 25) and .stats.totalAgents == 25' \
    "all 25 are online"
expect 200 "([.agents[].name | ascii_downcase] | sort) == ([range(1;26) | \"same\(.)\"] | sort)" \
    "  ... each name once"

# --- SIGKILL to the programs while they work ---------------------------------
CPID=$(pgrep -f "chatrd -c $T/var/chatr.conf" | head -n1)
check "found this instance's chatrd ($CPID)" test -n "$CPID"
# victims: the chatr-register and chatr-heartbeat processes chatrd runs.
victims() {
	[ -n "$CPID" ] && pgrep -P "$CPID" -f 'chatr-(register|heartbeat)'
}

mkdir -p "$T/rob"
worker() {
	local w=$1 i=0 r s k hs
	while [ ! -e "$T/rob/stop" ]; do
		i=$((i + 1))
		r=$(curl -s -w '\n%{http_code}' --max-time 10 --interface "127.0.0.$((100 + w))" \
		    -H 'Content-Type: application/json' \
		    --data-binary "{\"name\":\"rob${w}x$i\"}" "$BASE/api/register" 2>/dev/null) || r=$'\n000'
		s=${r##*$'\n'}
		printf '%s\n' "${r%$'\n'*}" >"$T/rob/$w.$i.body"
		k=$(jq -r '.agent.apiKey // "-"' "$T/rob/$w.$i.body" 2>/dev/null) || k=-
		hs=-
		if [ "$k" != - ]; then
			hs=$(curl -s -o "$T/rob/$w.$i.hb" -w '%{http_code}' --max-time 10 -X POST \
			    -H 'Content-Length: 0' -H "Authorization: Bearer $k" \
			    --interface "127.0.0.$((100 + w))" "$BASE/api/heartbeat" 2>/dev/null) || hs=000
		fi
		echo "rob${w}x$i $s ${k:--} $hs" >>"$T/rob/log"
	done
}
pids=()
for w in 1 2 3; do
	worker "$w" &
	pids+=($!)
done
killed=0
for round in 1 2 3 4 5 6; do
	sleep 0.6
	v=$(victims)
	if [ -n "$v" ]; then
		kill -9 $v 2>/dev/null
		killed=$((killed + $(wc -w <<<"$v")))
	fi
done
sleep 0.8
touch "$T/rob/stop"
wait "${pids[@]}"
check "killed FastCGI programs of this instance ($killed)" test "$killed" -gt 0

# Within a few seconds everything works again (chatrd starts a program in
# place of a dead one at once; ask for good answers over 2 s).
RECOV=0
recovered() {
	local i good=0
	for i in $(seq 1 120); do
		register "after$i"
		if [ "$STATUS" = 200 ]; then
			RECOV=$((RECOV + 1))
			req POST /api/heartbeat '' -H "Authorization: Bearer $KEY"
			if [ "$STATUS" = 200 ]; then
				good=$((good + 1))
				[ $good -ge 8 ] && { echo "after $i tries"; return 0; }
				sleep 0.3
				continue
			fi
		fi
		good=0
		sleep 0.2
	done
	return 1
}
check "registrations and heartbeats succeed again, 8 in a row over 2 s, within 30 s" recovered
register afterall
expect 200 '.success == true' "a registration after the kills"
works_key=$KEY
req POST /api/heartbeat '' -H "Authorization: Bearer $works_key"
expect 200 '. == {"success":true,"online":true}' "  ... and its heartbeat"
ps_of_cpid() { pgrep -P "$CPID" -f 'chatr-(register|heartbeat)' >/dev/null; }
check "chatrd runs the programs again" ps_of_cpid

# The programs that were not killed share the store too: a few seconds
# on, every endpoint must answer at the first try (no process still
# holding a store that was recovered under it).
sleep 2
first_try() {
	local i fail=0
	for i in 1 2 3 4; do
		req GET /api/agents
		[ "$STATUS" = 200 ] || { echo "GET /api/agents: $STATUS $BODY"; fail=1; }
		req GET /api/messages
		[ "$STATUS" = 200 ] || { echo "GET /api/messages: $STATUS $BODY"; fail=1; }
		req GET /api/nope
		[ "$STATUS" = 404 ] || { echo "GET /api/nope: $STATUS $BODY"; fail=1; }
	done
	for i in 1 2; do
		req POST /api/disconnect '' -H "Authorization: Bearer $works_key"
		[ "$STATUS" = 200 ] || { echo "POST /api/disconnect: $STATUS $BODY"; fail=1; }
	done
	return $fail
}
check "3 s after the kills every endpoint answers at the first try" first_try
if grep -q 'PANIC' "$T/var/log/chatr.log" 2>/dev/null; then
	echo "# the store was recovered after a kill (BDB PANIC in chatr.log)"
fi

# req_settled ARGS...: req, retried while the answer is 503 (for the
# counts below, which must not depend on the check above).
req_settled() {
	local i
	for i in $(seq 1 20); do
		req "$@"
		[ "$STATUS" = 503 ] || return 0
		sleep 0.5
	done
}

# Every answer during the kills was JSON; record what happened.
json_always() {
	local f fail=0
	# all at once; file by file only to say which one failed
	find "$T/rob" -name '*.body' -size +0 -o -name '*.hb' -size +0 |
	    xargs cat | jq -se 'all(.[]; .success | type == "boolean")' >/dev/null 2>&1 && return 0
	for f in "$T"/rob/*.body "$T"/rob/*.hb; do
		[ -s "$f" ] || continue
		jq -e '(.success | type == "boolean")' "$f" >/dev/null 2>&1 ||
		    { echo "$f: $(head -c 200 "$f")"; fail=1; }
	done
	return $fail
}
check "every answer during the kills was JSON with success" json_always
total=$(wc -l <"$T/rob/log")
acked=$(awk '$2 == 200' "$T/rob/log" | wc -l)
statuses=$(awk '{print $2}' "$T/rob/log" | sort | uniq -c | tr '\n' ' ')
hbfail=$(awk '$2 == 200 && $4 != 200' "$T/rob/log" | wc -l)
echo "# during the kills: $total registrations, statuses: $statuses; heartbeats failed: $hbfail"
check "registrations kept succeeding around the kills ($acked of $total)" test "$acked" -gt 0
no_unexpected() {
	awk '$2 != 200 && $2 != 409 && $2 != 502 && $2 != 503 && $2 != 500' "$T/rob/log" | head -n 5 | grep . && return 1
	return 0
}
check "no answer other than 200, 409, or a 5xx while a program died" no_unexpected

# Every acknowledged key works; the count of agents is exact.
keys_ok() {
	local n s k hs bad=0
	while read -r n s k hs; do
		[ "$s" = 200 ] || continue
		req_settled POST /api/heartbeat '' -H "Authorization: Bearer $k"
		[ "$STATUS" = 200 ] || { echo "$n: key refused: $STATUS $BODY"; bad=1; }
	done <"$T/rob/log"
	return $bad
}
check "every acknowledged key works after the kills" keys_ok
# Names that got no 200: stored anyway (killed after the commit) or not.
unacked=0
fresh=0
while read -r n s k hs; do
	[ "$s" = 200 ] && continue
	req_settled POST /api/register "{\"name\":\"$n\"}"
	case $STATUS in
	409) unacked=$((unacked + 1)) ;;
	200) fresh=$((fresh + 1)) ;;
	*) echo "# re-registering $n: $STATUS $BODY" ;;
	esac
done <"$T/rob/log"
check "at most one registration stored without its answer per killed process ($unacked, $killed killed)" \
    test "$unacked" -le "$killed"
req_settled GET /api/agents
expect 200 ".stats.totalAgents == (25 + $acked + $unacked + $fresh + $RECOV + 1)" \
    "totalAgents: 25 + $acked acknowledged + $unacked stored unanswered + $fresh + $((RECOV + 1)) registered since"
expect 200 '.success == true and (.agents | length) == ([.stats.onlineAgents, 200] | min) and .hasMore == (.stats.onlineAgents > 200)' \
    "GET /api/agents is consistent (at most 200 in a page)"
