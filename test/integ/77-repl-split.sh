#!/bin/bash
# 77-repl-split.sh -- a master cut off from the rest of a group of three.
#
# The master's node goes on committing what reaches it, but no write is
# acknowledged (503): it is on no majority.  Its own streams show those
# writes meanwhile.  The two others, cut off from it, elect a master of
# their own and take writes.  When the old master
# comes back, the group must agree on one history that holds every
# acknowledged message, and every stream must carry each of those once,
# in id order.
#
# The cut is made by freezing nodes (SIGSTOP) and killing their
# replication connections (ss -K), in an order that leaves the old master
# alone while the others go on: freeze the two, post to the master, freeze
# it, cut every connection, thaw the two, let them elect and post, thaw it.
# When the two masters meet, Berkeley DB makes one of them step down (or
# both, and holds an election); the stores must then agree.

. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v ss >/dev/null 2>&1; then
	skip "cutting connections (ss -K) needs root and iproute2"
	exit 0
fi
REPL_NODES=3
. "$(dirname "$0")/repl-lib.sh"

form_group 3

on "$M"
register alice
expect 200 '.success == true' "register"
ALICE=$KEY
open_streams 1 2 3
: >"$T/acked"
for i in 1 2 3; do
	on "$M"
	post "$ALICE" "before the split $i"
	[ "$STATUS" = 200 ] && printf '%s' "$BODY" | jq -r .message.id >>"$T/acked"
done
check "three posts before the split are acknowledged" test "$(wc -l <"$T/acked")" = 3

# --- the master alone: nothing it takes is acknowledged ------------------
freeze "${R[0]}"
freeze "${R[1]}"
on "$M"
post "$ALICE" "alone 1"
expect 503 '.success == false' "a post on the lone master is refused (no majority)"
LOST=$(( $(tail -n 1 "$T/acked") + 1 ))
check "its stream shows the unacknowledged post as message $LOST meanwhile" \
    stream_wait "s$M" "map(select(.type == \"message\" and .data.id == \"$LOST\")) | length == 1"

# --- the two others elect a master and go on -------------------------------
# (with every replication connection cut meanwhile: what the master sent
# waits in no socket buffer of theirs, as in a real partition)
freeze "$M"
filter=
for n in 1 2 3; do
	filter="$filter${filter:+ or }sport = :${NRPORT[$n]} or dport = :${NRPORT[$n]}"
done
ss -K -t "( $filter )" >/dev/null 2>&1
check "every replication connection is cut" \
    test -z "$(ss -Ht state established "( $filter )" 2>/dev/null)"
thaw "${R[0]}"
thaw "${R[1]}"
NM=
wait_for 30 master_of "${R[@]}" >/dev/null && NM=$(master_of "${R[@]}")
check "the two others elect a new master" test -n "$NM"
# (the first ones may meet a group still reconnecting: 503, and retried)
group_post() {
	on "$NM"
	post "$ALICE" "$1"
	[ "$STATUS" = 200 ] &&
	    printf '%s' "$BODY" | jq -r .message.id >>"$T/acked"
}
for i in 1 2 3; do
	check "post $i on the new master is acknowledged" \
	    wait_for 20 group_post "the group goes on $i"
done

# --- the old master comes back ---------------------------------------------
# Whether its lone write survives depends on where its bytes got to before
# the cut (a 503 says only that it is not known to be on a majority); the
# group must agree either way, and keep every acknowledged message.
thaw "$M"
check "/api/health after the cut heals: one master, two replicas naming it" \
    wait_for 60 eval 'm=$(master_of 1 2 3) && group_is "$m" $(printf "%s\n" 1 2 3 | grep -vx "$m")'
LAST=$(tail -n 1 "$T/acked")
for n in 1 2 3; do
	check "node $n holds the group's messages up to $LAST" \
	    wait_for 30 last_id_is "$n" "$LAST"
	on "$n"
	req GET "/api/messages?after=0&limit=100"
	printf '%s' "$BODY" | jq -c '[.messages[] | [.id, .content]]' >"$T/page$n"
	printf '%s' "$BODY" | jq -r '.messages[].id' >"$T/page$n.ids"
	check "node $n's store holds every acknowledged message" \
	    ids_cover "$T/page$n.ids" "$T/acked"
done
check "the three stores hold the same messages under the same ids" \
    eval 'cmp -s "$T/page1" "$T/page2" && cmp -s "$T/page1" "$T/page3"'
for n in 1 2 3; do
	check "node $n's stream (held through the cut) has every acknowledged message once, in order" \
	    wait_for 15 stream_holds "s$n" "$T/acked"
done
on "$M"
post "$ALICE" "after the cut, through the old master"
expect 200 '.success == true' "a post through the old master is acknowledged again"
for n in 1 2 3; do
	stream_close "s$n"
done
