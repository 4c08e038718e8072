#!/bin/bash
# 76-repl2.sh -- two nodes and a split: never two masters taking writes.
#
# A group of two has no majority without both sites, so with the quorum
# ack policy and 2SITE_STRICT a node cut off from the other can neither be
# elected nor answer a write with 200.  The split is made by freezing every
# process of one node (SIGSTOP): to the other node it is gone, though its
# connections stay open, as in a network partition.  After SIGCONT the
# group heals, writes go on, and every acknowledged message is on both
# nodes and on both nodes' streams, once each, in id order.

. "$(dirname "$0")/lib.sh"

REPL_NODES=2
. "$(dirname "$0")/repl-lib.sh"

# unavailable N: node N's /api/health answers 503 JSON with Retry-After,
# naming no master.
unavailable() {
	on "$1"
	req GET /api/health "" --max-time 3
	[ "$STATUS" = 503 ] && [ -n "$(header Retry-After)" ] &&
	    printf '%s' "$BODY" | jq -e '.success == false and
	    (.error | length > 0) and .master == null' >/dev/null 2>&1
}

# post_acked N TEXT: post on node N; an acknowledged id goes to $T/acked.
post_acked() {
	on "$1"
	post "$ALICE" "$2"
	[ "$STATUS" = 200 ] &&
	    printf '%s' "$BODY" | jq -r .message.id >>"$T/acked"
}

form_group 2

on "$R"
register alice
expect 200 '.success == true' "register through the replica"
ALICE=$KEY
open_streams 1 2
: >"$T/acked"
post_acked "$M" "on the master"
check "a post on the master with both nodes up is acknowledged" test $? = 0
post_acked "$R" "through the replica"
check "a post through the replica is acknowledged" test $? = 0

# --- the replica is cut off: the master cannot acknowledge a write --------
freeze "$R"
on "$M"
post "$ALICE" "while the replica is gone"
expect 503 '.success == false and (.error | test("acknowledged"))' \
    "a post on the master alone is refused: no majority acknowledged it"
check "and the refusal carries Retry-After" test -n "$(header Retry-After)"
req GET /api/messages "" -H "Authorization: Bearer $ALICE"
expect 200 '.success == true and (.messages | length >= 2)' \
    "the master alone still serves reads"
thaw "$R"
check "with the replica back, posts on the master are acknowledged again" \
    wait_for 20 post_acked "$M" "the replica is back"

# --- the master is cut off: the replica cannot become one -----------------
freeze "$M"
check "/api/health on the replica: 503 with Retry-After, and no master" \
    wait_for 15 unavailable "$R"
on "$R"
t0=$(date +%s%N)
post "$ALICE" "while the master is gone"
t1=$(date +%s%N)
expect 503 '.success == false and (.error | length > 0)' \
    "a post on the replica alone is refused: it is no master and knows none"
check "the refusal carries Retry-After" test -n "$(header Retry-After)"
check "and it comes at once, not after a forwarding timeout" \
    test $(( (t1 - t0) / 1000000 )) -lt 3000
sleep 3
check "seconds later the replica is still not master (a lone site of two cannot win an election)" \
    unavailable "$R"
thaw "$M"
check "/api/health after the split heals: one master, one replica" \
    wait_for 30 eval 'm=$(master_of 1 2) && group_is "$m" $((3 - m))'
M=$(master_of 1 2)
R=$((3 - M))
check "posts through the replica are acknowledged again" \
    wait_for 20 post_acked "$R" "healed, through the replica"
check "and on the master" post_acked "$M" "healed, on the master"
LAST=$(tail -n 1 "$T/acked")

# --- nothing acknowledged was lost, nothing is there twice ----------------
for n in 1 2; do
	check "node $n holds message $LAST" wait_for 10 last_id_is "$n" "$LAST"
	check "node $n's stream has every acknowledged message once, in id order" \
	    wait_for 10 stream_holds "s$n" "$T/acked"
	on "$n"
	req GET "/api/messages?after=0&limit=100" "" --max-time 5
	printf '%s' "$BODY" | jq -r '.messages[].id' >"$T/page$n.ids"
	check "node $n's GET /api/messages covers every acknowledged message" \
	    ids_cover "$T/page$n.ids" "$T/acked"
done
check "both nodes read the same messages" cmp -s "$T/page1.ids" "$T/page2.ids"
for n in 1 2; do
	stream_close "s$n"
done
