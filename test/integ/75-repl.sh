#!/bin/bash
# 75-repl.sh -- three nodes, one room: Berkeley DB replication under chatr.
#
# Three ./run.sh instances on loopback, each with its own CHATR_VAR, port
# and replication address, and the others' addresses as peers.  Writes on
# replicas are forwarded to the master; every node's relay streams from its
# own replica.  The master's whole node is killed with SIGKILL under a
# stream of posts; a new master must take over, the surviving streams must
# lose nothing, and the killed node must come back and catch up.  A fresh
# node with an empty CHATR_VAR joins last.  Forwarded requests claim a
# client address only under the cluster's signature.

. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/repl-lib.sh"

# --- a group of three forms -----------------------------------------------
# (the group's creator is the least address among those with no store)
form_group 3

# --- a write on a replica goes to the master ------------------------------
open_streams 1 2 3
on 2
# A client told 503 with Retry-After (a node that just lost and regained
# its replication process: it answers that, and is back in a second)
# retries as told.
for try in 1 2 3 4 5 6 7 8 9 10; do
	register alice
	[ "$STATUS" = 503 ] && [ -n "$(header Retry-After)" ] || break
	sleep "$(header Retry-After | tr -dc 0-9)"
done
expect 200 '.success == true and (.agent.apiKey | startswith("chatr_"))' \
    "register on node 2 answers the master's 200"
ALICE=$KEY
on 3
post "$ALICE" "hello from node 3"
expect 200 '.success == true and .message.id == "1" and
    .message.agentName == "alice" and .message.content == "hello from node 3"' \
    "a post on node 3 (the key made through node 2) is message 1"
for n in 1 2 3; do
	check "node $n's stream has message 1 with its content" \
	    stream_wait "s$n" 'map(select(.type == "message" and .data.id == "1" and .data.content == "hello from node 3")) | length == 1'
	check "node $n's health says the last message is 1" \
	    wait_for 10 last_id_is "$n" 1
done
on "${R[0]}"
req GET /api/messages "" -H "Authorization: Bearer $ALICE"
expect 200 '.success == true and ([.messages[] | .id] == ["1"])' \
    "GET /api/messages on a replica reads message 1 from its copy"

# --- posts spread over all nodes: every stream sees each once, in order ---
: >"$T/acked"
echo 1 >>"$T/acked"
bad=0
for i in $(seq 1 30); do
	on $(( (i % 3) + 1 ))
	post "$ALICE" "spread $i"
	if [ "$STATUS" = 200 ]; then
		printf '%s' "$BODY" | jq -r .message.id >>"$T/acked"
	else
		bad=$((bad + 1))
	fi
done
check "30 posts spread over the three nodes are all acknowledged" test "$bad" = 0
sort -n -c "$T/acked" 2>/dev/null
check "their ids ascend in the order they were acknowledged" test $? = 0
for n in 1 2 3; do
	check "node $n's stream sees all 31, once each, in id order" \
	    wait_for 10 eval 'stream_ids s'$n' | cmp -s - "$T/acked"'
done

# --- the client's address travels only under the cluster's signature -----
# alice is the first registration from 127.0.0.1; the limit is 6 an address.
on "$M"
for i in 1 2 3 4 5 6; do
	register "forged$i" -H "X-Chatr-Forwarded-For: 10.0.0.$i" \
	    -H "X-Chatr-Forwarded-At: $(date +%s)" \
	    -H "X-Chatr-Forwarded-Sig: $(printf '%064d' 0)"
	[ "$STATUS" = 200 ] || break
done
expect 429 '.success == false and (.error | length > 0)' \
    "forwarding headers with a wrong signature claim no address: the 6th from 127.0.0.1 is limited"
on "${R[0]}"
register nosig -H "X-Chatr-Forwarded-For: 10.0.1.1"
expect 429 '.success == false' \
    "through a replica, a claimed address with no signature is still 127.0.0.1's"
# the same claim, signed with the cluster secret, is the other address
sign() { # AT ADDR METHOD PATH BODY
	local bh
	bh=$(printf '%s' "$5" | sha256sum | cut -d' ' -f1)
	printf 'chatr-fwd-1\n%s\n%s\n%s\n%s\n%s' "$1" "$2" "$3" "$4" "$bh" |
	    openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1
}
at=$(date +%s)
body='{"name":"signed1"}'
on "$M"
req POST /api/register "$body" -H "X-Chatr-Forwarded-For: 10.0.2.2" \
    -H "X-Chatr-Forwarded-At: $at" \
    -H "X-Chatr-Forwarded-Sig: $(sign "$at" 10.0.2.2 POST /api/register "$body")"
expect 200 '.success == true and .agent.name == "signed1"' \
    "a correctly signed forward is counted against the address it carries"
req POST /api/register '{"name":"signed2"}' -H "X-Chatr-Forwarded-For: 10.0.2.2" \
    -H "X-Chatr-Forwarded-At: $at" \
    -H "X-Chatr-Forwarded-Sig: $(sign "$at" 10.0.2.2 POST /api/register "$body")"
expect 429 '.success == false' \
    "a signature made for another body does not carry the address"

# --- a balancer in front, checking /api/health ---------------------------
# (haproxy-cluster.cfg.example, as the README deploys it)
if command -v haproxy >/dev/null 2>&1; then
	balancer 1 2 3
	lb_health() {
		BASE="http://127.0.0.1:$LB_PORT"
		req GET /api/health "" --max-time 3
		[ "$STATUS" = 200 ] && printf '%s' "$BODY" | jq -e \
		    --arg u "$(url "$M")" '.success == true and .master == $u' \
		    >/dev/null 2>&1
	}
	check "through the balancer, /api/health answers 200 naming the master" \
	    wait_for 10 lb_health
	BASE="http://127.0.0.1:$LB_PORT"
	post "$ALICE" "through the balancer"
	expect 200 '.success == true and .message.content == "through the balancer"' \
	    "a post through the balancer is acknowledged"
	printf '%s' "$BODY" | jq -r .message.id >>"$T/acked"
else
	skip "haproxy is not installed: no balancer checks"
fi

# --- kill -9 the master's node under a stream of posts --------------------
poster() { # NODES... : post round-robin until $T/stop-posting exists
	local i=0 n code out
	while [ ! -e "$T/stop-posting" ]; do
		i=$((i + 1))
		n=${@:$(( (i % $#) + 1 )):1}
		out=$(curl -s -m 15 -w '\n%{http_code}' -X POST \
		    -H 'Content-Type: application/json' \
		    -H "Authorization: Bearer $ALICE" \
		    --data-binary "{\"content\":\"storm $i\"}" \
		    "$(url "$n")/api/messages") || out=$'\n000'
		code=${out##*$'\n'}
		if [ "$code" = 200 ]; then
			printf '%s\n' "${out%$'\n'*}" | jq -r .message.id >>"$T/acked"
			date +%s.%N >>"$T/acked-at"
		else
			echo "$code" >>"$T/refused"
		fi
		sleep 0.05
	done
}
: >"$T/refused"
: >"$T/acked-at"
poster "${R[@]}" &
POSTER=$!
acked_at_least() {
	[ "$(wc -l <"$T/acked")" -ge "$1" ]
}
wait_for 20 acked_at_least 60
kill_node "$M"
killed=$(date +%s.%N)
NM=
wait_for 15 master_of "${R[@]}" >/dev/null && NM=$(master_of "${R[@]}")
check "a new master is elected among the two survivors" test -n "$NM"
OTHER=${R[0]}
[ "$OTHER" = "$NM" ] && OTHER=${R[1]}
check "/api/health on the survivors: the new master and its replica" \
    wait_for 15 group_is "$NM" "$OTHER"
n0=$(wc -l <"$T/acked")
check "posts go on through both survivors after the failover" \
    wait_for 20 acked_at_least $((n0 + 20))
touch "$T/stop-posting"
wait "$POSTER"
first=$(awk -v k="$killed" '$1 > k {print; exit}' "$T/acked-at")
echo "# from the kill to the first acknowledged post: $(awk -v a="$first" -v b="$killed" 'BEGIN{printf "%.2f", a - b}') s"
sort -n -c "$T/acked" 2>/dev/null
check "the acknowledged ids ascend across the failover" test $? = 0
check "what was refused meanwhile was refused with 503 or a lost connection" \
    test -z "$(grep -v -x -e 503 -e 000 "$T/refused")"
for n in "$NM" "$OTHER"; do
	check "node $n's stream (kept across the failover) has every acknowledged message once, in order" \
	    wait_for 15 stream_holds "s$n" "$T/acked"
done
on "$OTHER"
post "$ALICE" "after the failover, through the replica"
expect 200 '.success == true' "a post on the surviving replica is forwarded to the new master"
echo "$(printf '%s' "$BODY" | jq -r .message.id)" >>"$T/acked"

if [ -n "${LB_PID:-}" ]; then
	# the dead node fails its checks: every post through the balancer
	# lands on a live one
	lb_posts() {
		local i
		BASE="http://127.0.0.1:$LB_PORT"
		for i in 1 2 3 4 5 6; do
			post "$ALICE" "balanced $i"
			[ "$STATUS" = 200 ] || return 1
			printf '%s' "$BODY" | jq -r .message.id >>"$T/acked"
		done
	}
	check "through the balancer, six posts in a row are acknowledged after the failover" \
	    wait_for 10 lb_posts
	BASE="http://127.0.0.1:$LB_PORT"
	req GET /api/health "" --max-time 3
	expect 200 ".success == true and .master == \"$(url "$NM")\"" \
	    "through the balancer, /api/health names the new master"
fi
LAST=$(tail -n 1 "$T/acked")

# --- the killed node rejoins with its old CHATR_VAR ----------------------
stream_close "s$M"
peers=()
for n in 1 2 3; do
	[ "$n" = "$M" ] || peers+=("$n")
done
start_node "$M" "${peers[@]}"
check "/api/health: the old master is back as a replica of the new one" \
    wait_for 60 health_is "$M" replica "$NM"
check "it caught up: its last message is the group's" \
    wait_for 30 last_id_is "$M" "$LAST"
on "$M"
LEID=$(sed -n "$(( $(wc -l <"$T/acked") - 60 ))p" "$T/acked")
awk -v l="$LEID" '$1 > l' "$T/acked" >"$T/acked-after"
stream_open "back" -H "Last-Event-ID: $LEID"
history_covers() {
	stream_events back | jq -r 'select(.type == "history") | .data[].id' \
	    >"$T/back.ids"
	[ -s "$T/back.ids" ] && ids_cover "$T/back.ids" "$T/acked-after" &&
	    [ "$(head -n 1 "$T/back.ids")" -gt "$LEID" ]
}
check "a stream on the rejoined node resumes after Last-Event-ID $LEID with every acknowledged message since, once each, in order" \
    wait_for 15 history_covers
stream_open "live"
sleep 0.5
post "$ALICE" "through the rejoined node"
expect 200 '.success == true' "a post through the rejoined node is forwarded"
id=$(printf '%s' "$BODY" | jq -r .message.id)
for n in 1 2 3; do
	[ "$n" = "$M" ] && s=live || s=s$n
	check "node $n's stream gets it ($id)" \
	    stream_wait "$s" "map(select(.type == \"message\" and .data.id == \"$id\")) | length == 1"
done

# --- a fresh node joins a group that holds messages -----------------------
start_node 4 1 2 3
check "/api/health: a fresh node with an empty CHATR_VAR joins as a replica" \
    wait_for 60 health_is 4 replica "$NM"
check "it copied everything: its last message is the group's" \
    wait_for 30 last_id_is 4 "$id"
page_ids() { # NODE: the ids GET /api/messages?after=0&limit=100 reads
	on "$1"
	req GET "/api/messages?after=0&limit=100"
	[ "$STATUS" = 200 ] && printf '%s' "$BODY" | jq -r '.messages[].id'
}
check "GET /api/messages reads the same on the new node as on the master" \
    test "$(page_ids 4 | tr '\n' ' ')" = "$(page_ids "$NM" | tr '\n' ' ')"
page_ids 4 >"$T/page4.ids"
awk -v m="$(tail -n 1 "$T/page4.ids")" '$1 <= m' "$T/acked" >"$T/acked-head"
check "and it holds every acknowledged message among them" \
    ids_cover "$T/page4.ids" "$T/acked-head"
on 4
post "$ALICE" "from the newest node"
expect 200 '.success == true and .message.agentName == "alice"' \
    "an agent registered before it joined posts through it"
# Every node's programs started before node 4 joined: chatr-repl has
# chatrd replace them (their successors connect to node 4 too), and the
# relays stay, their streams uncut.
for n in 1 2 3; do
	check "node $n's chatrd replaces its programs after node 4's join" \
	    wait_for 20 grep -q 'a site joined the group: restarting the FastCGI' \
	    "$T/node$n/log/chatr.log"
done
sleep 2 # the rolling restarts
for n in 1 2 3; do
	on "$n"
	post "$ALICE" "through node $n after node 4 joined"
	expect 200 '.success == true' "a post through node $n after the join is acknowledged"
	id=$(printf '%s' "$BODY" | jq -r .message.id)
	printf '%s\n' "$id" >>"$T/acked"
done
for n in 1 2 3; do
	[ "$n" = "$M" ] && s=live || s=s$n
	check "node $n's stream, open since before the join, gets the last ($id)" \
	    stream_wait "$s" "map(select(.type == \"message\" and .data.id == \"$id\")) | length == 1"
done

for n in 1 2 3; do
	stream_close "s$n"
done
stream_close back
stream_close live
