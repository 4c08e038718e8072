#!/bin/bash
# 47-reliability.sh -- nothing acknowledged is lost: 30 agents post in
# parallel while the message log is rotated (renamed, then truncated) and
# every message reaches every open stream exactly once, in order; a
# message stored but never appended to the log (the writer could not)
# still reaches the streams from the store; the relay is killed and
# restarted and a stream resuming with Last-Event-ID gets exactly what it
# missed; a client that stops reading is dropped while the others go on.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_MSG_VERIFIED=off \
    CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off CHATR_PROCS=4 \
    CHATR_RELAY_LISTEN=127.0.0.1:0
# The relay's own TCP listener, on a port the kernel chose.
wait_for 10 test -s "$T/var/run/relay.tcp"
RPORT=$(cut -d: -f2 "$T/var/run/relay.tcp")

LOG=$T/var/messages.log
for s in a b c; do stream_open $s; done
for s in a b c; do stream_wait $s '.[0].type == "history"' 10; done

# 30 agents, 10 messages each, all at once.
keys=()
for i in $(seq 1 30); do
	register "agent$i"
	keys+=("$KEY")
done
check "30 agents registered" test "${#keys[@]}" = 30
mkdir -p "$T/posts"
poster() {
	local key=$1 n=$2 j
	for j in $(seq 1 10); do
		curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
		    --data-binary "{\"content\":\"agent $n message $j\"}" \
		    "$BASE/api/messages" >"$T/posts/$n.$j"
	done
}
pp=()
for i in $(seq 1 30); do
	poster "${keys[$((i - 1))]}" "$i" &
	pp+=($!)
done
sleep 0.3
mv "$LOG" "$LOG.1"               # rotation by renaming
sleep 0.5
cp "$LOG" "$LOG.2" 2>/dev/null; : >"$LOG"   # rotation by truncation
wait "${pp[@]}"
ok_posts=$(cat "$T"/posts/* | jq -s '[.[] | select(.success == true)] | length')
check "all 300 posts were acknowledged (got $ok_posts)" test "$ok_posts" = 300
cat "$T"/posts/* | jq -r '.message.id' | sort -n >"$T/acked"
for s in a b c; do
	check "stream $s received 300 messages" stream_wait $s '[.[] | select(.type == "message")] | length >= 300' 20
	stream_ids $s >"$T/$s.ids"
	check "stream $s got every acknowledged message exactly once" cmp -s "$T/acked" <(sort -n "$T/$s.ids")
	check "stream $s got them in strictly increasing order" cmp -s "$T/$s.ids" <(sort -n -u "$T/$s.ids")
done
cat "$LOG.1" "$LOG" 2>/dev/null | jq -r .id >"$T/logged"
check "the log's ids strictly increase across the rename" cmp -s "$T/logged" <(sort -n -u "$T/logged")

# A message stored but not appended (the log cannot be opened): it still
# reaches the streams, from the store, in order.
rm -f "$LOG"
mkdir "$LOG"
post "${keys[0]}" "stored but not logged 1"
expect 200 '.success == true' "a post is acknowledged although the log cannot be written"
unlogged=$(jq -r .message.id <<<"$BODY")
post "${keys[1]}" "stored but not logged 2"
rmdir "$LOG"
post "${keys[2]}" "logged again"
expect 200 '.success == true' "posting works again once the log is back"
for s in a b c; do
	check "stream $s gets the unlogged messages and the next, in order" stream_wait $s \
	    '[.[] | select(.type == "message") | .data.content][-3:] == ["stored but not logged 1","stored but not logged 2","logged again"]' 10
done
grep -q "stored but not logged" "$T/var/messages.log" && not_ok "the unlogged messages are not in the log" || ok "the unlogged messages are not in the log"

# The relay dies; run.sh restarts it; a resuming stream loses nothing.
lastseen=$(stream_ids a | tail -n1)
relaypid=$(pgrep -f "chatr-sse-relay -c $T/var/chatr.conf" | head -n1)
check "found the relay ($relaypid)" test -n "$relaypid"
kill -9 "$relaypid"
for i in 1 2 3 4 5; do
	post "${keys[$i]}" "while the relay was down $i"
	check "post $i is acknowledged while the relay is down" test "$STATUS" = 200
done
for s in a b c; do stream_close $s; done
i=0
while [ $i -lt 50 ]; do
	newpid=$(pgrep -f "chatr-sse-relay -c $T/var/chatr.conf" | head -n1)
	[ -n "$newpid" ] && [ "$newpid" != "$relaypid" ] && [ -S "$T/var/run/relay.sock" ] && break
	sleep 0.2
	i=$((i + 1))
done
check "run.sh restarted the relay" test -n "$newpid" -a "$newpid" != "$relaypid"
sleep 0.5
stream_open back -H "Last-Event-ID: $lastseen"
check "the resumed stream gets exactly the five it missed" stream_wait back \
    '.[0].type == "history" and ([.[0].data[].content] == ["while the relay was down 1","while the relay was down 2","while the relay was down 3","while the relay was down 4","while the relay was down 5"])' 15

# A client that stops reading is dropped while the others go on: straight
# at the relay's own listener it is dropped once its backlog passes 1 MB.
# Behind lighttpd the kernel's buffers first take a few MB more (tune
# net.ipv4.tcp_wmem), but it never slows the others down.
big=$(printf '🦞%.0s' $(seq 250))
stream_open reader
stream_wait reader '.[0].type == "history"' 10
# (the relay was restarted above: its port is new)
RPORT=$(cut -d: -f2 "$T/var/run/relay.tcp")
"$top_builddir/test/integ/stall" "$RPORT" /api/stream 300 &
stall1=$!
"$top_builddir/test/integ/stall" "$PORT" /api/stream 300 &
stall2=$!
sleep 0.5
before=$(stream_ids reader | wc -l)
pp=()
for i in 2 3; do
	post_many "${keys[$i]}" 800 "$big" >"$T/burst$i" &
	pp+=($!)
done
wait "${pp[@]}"
n=$(( $(cat "$T/burst2") + $(cat "$T/burst3") ))
check "1600 large messages posted (got $n)" test "$n" = 1600
check "the relay dropped the client that stopped reading" wait_for 10 grep -q "dropping a stream of 127.0.0.1" "$T/var/log/chatr.log"
check "the reading stream got all of them meanwhile" stream_wait reader "[.[] | select(.type == \"message\")] | length >= $((before + n))" 30
check "and was never dropped" test "$(grep -c 'dropping a stream' "$T/var/log/chatr.log")" = 1
kill "$stall1" "$stall2" 2>/dev/null
wait "$stall1" "$stall2" 2>/dev/null
stream_close reader
stream_close back
req GET /api/agents
expect 200 '.success == true' "the service still answers"
