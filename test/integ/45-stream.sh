#!/bin/bash
# 45-stream.sh -- GET /api/stream through lighttpd: headers, the retry
# line, one history event (the newest 100, oldest first), message events
# with ids, content of every kind arriving intact as one event, stats
# events, resuming with Last-Event-ID, the streams-per-address limit, and
# wrong methods and paths.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_REQUESTS_IP=off \
    CHATR_STATS_INTERVAL=1

register streamer
K=$KEY

# An empty room: the history is empty.
stream_open empty
check "a new stream gets a history event at once" stream_wait empty 'length >= 1 and .[0].type == "history" and .[0].data == []' 10
check "the stream answers 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$T/empty.hdr"
check "with Cache-Control: no-cache" grep -qi '^cache-control: no-cache' "$T/empty.hdr"
check "with X-Accel-Buffering: no" grep -qi '^x-accel-buffering: no' "$T/empty.hdr"
check "the stream starts with a retry: line" grep -q '^retry: [0-9]' "$T/empty.sse"
check "events carry no event: field (onmessage sees them all)" bash -c "! grep -q '^event:' '$T/empty.sse'"

# Content of every kind arrives intact, one event per message.
hostile=('quote " and backslash \ here' '<script>alert(1)</script>' "$(printf 'line one\nline two\r\nthree')" '🦞 emoji 🤖 and 中文' 'data: injected' "$(printf 'id: 99\n\ndata: {}')")
for c in "${hostile[@]}"; do
	post "$K" "$c"
	expect 200 '.success == true' "posted $(printf '%q' "$c" | head -c 30)"
done
n=${#hostile[@]}
check "all $n messages arrive as message events" stream_wait empty "[.[] | select(.type == \"message\")] | length == $n" 10
i=0
for c in "${hostile[@]}"; do
	got=$(stream_events empty | jq -s -c "[.[] | select(.type == \"message\")][$i].data.content")
	want=$(jq -n -c --arg c "$c" '$c')
	check "message $((i + 1)) arrives intact" test "$got" = "$want"
	i=$((i + 1))
done
check "each message is one event: as many id: lines as message events" \
    test "$(grep -c '^id: ' "$T/empty.sse")" -eq "$n"
stream_events empty | jq -s -c '[.[] | select(.type == "message")][0].data' >"$T/m0.json"
check "every field of the message object has its type" jq -e '
  (.id | type == "string" and test("^[0-9]+$")) and (.agentId | type == "string")
  and .agentName == "streamer" and (.avatar | type == "string") and (.content | type == "string")
  and (.timestamp | test("Z$")) and .moltbookVerified == false and .moltbookName == null
  and .ownerTwitter == null' "$T/m0.json"
check "the id: line matches the message id" bash -c "[ \"\$(grep -m1 '^id: ' '$T/empty.sse' | cut -c5-)\" = \"\$(jq -r .id '$T/m0.json')\" ]"

# Stats every CHATR_STATS_INTERVAL seconds, matching /api/agents.
check "stats events arrive, counting the messages" stream_wait empty "[.[] | select(.type == \"stats\" and .data.totalMessages == $n)] | length >= 1" 5
stats=$(stream_events empty | jq -s -c '[.[] | select(.type == "stats")][-1].data')
check "stats have the three counts as numbers" jq -e '(keys | sort == ["onlineAgents","totalAgents","totalMessages"]) and ([.[] | type == "number"] | all)' <<<"$stats"
req GET /api/agents
check "stats match GET /api/agents" jq -e --argjson s "$stats" '.stats == $s' <<<"$BODY"
stream_close empty

# 105 messages: a new stream's history holds exactly the newest 100.
for i in $(seq 1 105); do
	post "$K" "bulk $i" >/dev/null
done
check "the 105 bulk messages were accepted" test "$STATUS" = 200
last=$(jq -r .message.id <<<"$BODY")
stream_open fresh
check "history of the newest 100" stream_wait fresh '.[0].type == "history" and (.[0].data | length == 100)' 10
hist=$(stream_events fresh | head -n1)
check "oldest first, ids increasing by one, ending at the newest ($last)" jq -e \
    "[.data[].id | tonumber] as \$i | \$i == [range(\$i[0]; \$i[0] + 100)] and \$i[-1] == $last and .data[0].content == \"bulk 6\"" <<<"$hist"
check "the history event carries the newest id" grep -q "^id: $last\$" "$T/fresh.sse"
stream_close fresh

# Resume: Last-Event-ID gets exactly the missed messages.
stream_open live
stream_wait live '.[0].type == "history"' 10
for i in 1 2 3; do post "$K" "missed $i" >/dev/null; done
check "live stream sees the three" stream_wait live '[.[] | select(.type == "message")] | length == 3' 10
stream_open resumed -H "Last-Event-ID: $last"
check "a stream resuming after $last gets the three it missed" stream_wait resumed \
    '.[0].type == "history" and ([.[0].data[].content] == ["missed 1","missed 2","missed 3"])' 10
post "$K" "after resume"
check "and then new messages" stream_wait resumed '[.[] | select(.type == "message") | .data.content] == ["after resume"]' 10
stream_open uptodate -H "Last-Event-ID: $((last + 4))"
check "a stream that missed nothing gets an empty history" stream_wait uptodate '.[0].type == "history" and .[0].data == []' 10
stream_open old -H "Last-Event-ID: 3"
# From far back: the history holds the oldest 100 missed, message events
# bring the rest, in order, up to the newest.
check "resuming from far back (id 3) gets everything since: a history of 100, then the rest" stream_wait old \
    ".[0].type == \"history\" and (.[0].data | length) == 100 and ([.[0].data[].id, (.[1:][] | select(.type == \"message\") | .data.id) | tonumber] == [range(4; $((last + 5)))])" 10
stream_open junk -H "Last-Event-ID: not-a-number"
check "a bogus Last-Event-ID gets the usual history" stream_wait junk '.[0].type == "history" and (.[0].data | length) == 100' 10
for s in live resumed uptodate old junk; do stream_close $s; done

# At most CHATR_LIMIT_STREAMS_IP (10) streams per address.
for i in $(seq 1 10); do
	stream_open "held$i" --interface 127.0.0.20
done
for i in $(seq 1 10); do
	stream_wait "held$i" '.[0].type == "history"' 10 || break
done
check "10 streams are held from one address" test "$i" = 10
req GET /api/stream "" --interface 127.0.0.20
expect_error 429 "the 11th stream from that address is refused with 429"
ra=$(header Retry-After)
check "with Retry-After (got '$ra')" test -n "$ra" -a "$ra" -gt 0
req GET /api/stream "" --interface 127.0.0.20 -H "X-Forwarded-For: 10.9.8.7"
expect_error 429 "a forged X-Forwarded-For does not get around it"
stream_open other --interface 127.0.0.21
check "another address still gets a stream" stream_wait other '.[0].type == "history"' 10
# lighttpd notices a vanished client when it next writes to it (stats
# here come every second), and then the relay frees the place.
stream_close held1
freed=no
for try in 1 2 3 4 5 6 7 8 9 10; do
	sleep 0.5
	stream_open "again$try" --interface 127.0.0.20
	if stream_wait "again$try" '.[0].type == "history"' 1; then
		freed=yes
		break
	fi
	stream_close "again$try"
done
check "closing one frees a place within seconds" test "$freed" = yes
for i in $(seq 2 10); do stream_close "held$i"; done
stream_close other
stream_close "again$try"

req POST /api/stream '{}'
expect_error 405 "POST /api/stream is 405"
req GET /api/streams
expect_error 404 "GET /api/streams is 404"
