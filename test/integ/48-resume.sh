#!/bin/bash
# 48-resume.sh -- streams lose nothing, whatever happens to them:
#   - a stream resuming from further back than the relay's memory (its
#     ring holds 1,024) gets every message since, in order, then the live
#     ones: the history event holds the first 100, message events the rest;
#   - the relay killed: a new stream is served again within 1.5 s (chatrd
#     holds its socket, so the connection waits while it restarts) and a
#     resuming one gets exactly what it missed;
#   - closed streams free their address's places at once: ten streams from
#     one address closed and opened again all get a stream, though the
#     front end keeps a closed client's connection until it next writes;
#   - the stream's retry: field asks for a reconnect after a second.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_MSG_VERIFIED=off \
    CHATR_LIMIT_REQUESTS_IP=off

register resumer
K=$KEY
post "$K" "first"
first=$(jq -r .message.id <<<"$BODY")
stream_open watcher
check "a stream opens" stream_wait watcher '.[0].type == "history"' 10
check "it asks clients to retry after a second" grep -q '^retry: 1000$' "$T/watcher.sse"

# --- far back ---------------------------------------------------------------
n=$(post_many "$K" 1500 "bulk")
check "1500 messages posted (got $n)" test "$n" = 1500
post "$K" "last of the bulk"
last=$(jq -r .message.id <<<"$BODY")
check "the live stream has all of them" stream_wait watcher \
    "[.[] | select(.type == \"message\")] | length == $((last - first))" 30
stream_open back -H "Last-Event-ID: $first"
check "resuming 1501 back: a history of the first 100 missed" stream_wait back \
    ".[0].type == \"history\" and (.[0].data | length) == 100 and .[0].data[0].id == \"$((first + 1))\"" 20
check "  ... then every message since, once, in order" stream_wait back \
    "[.[0].data[].id, (.[1:][] | select(.type == \"message\") | .data.id) | tonumber] == [range($((first + 1)); $((last + 1)))]" 30
post "$K" "live after the resume"
check "  ... then the live ones" stream_wait back \
    '[.[] | select(.type == "message")][-1].data.content == "live after the resume"' 10
stream_close back
stream_open q -G -d "lastEventId=$first"
check "?lastEventId= resumes the same way" stream_wait q \
    ".[0].type == \"history\" and .[0].data[0].id == \"$((first + 1))\" and ([.[] | select(.type == \"message\")] | length) == $((last + 1 - first - 100))" 30
stream_close q

# --- the relay killed ---------------------------------------------------------
seen=$(stream_ids watcher | tail -n1)
relay=$(pgrep -f "chatr-sse-relay -c $T/var/chatr.conf" | head -n1)
check "found the relay ($relay)" test -n "$relay"
kill -9 "$relay"
start=$(date +%s%N)
stream_open fresh
check "a new stream is served while the relay restarts" stream_wait fresh \
    '.[0].type == "history"' 10
took=$((($(date +%s%N) - start) / 1000000))
check "  ... within 1.5 s ($took ms)" test "$took" -lt 1500
for i in 1 2 3; do post "$K" "after the kill $i" >/dev/null; done
req GET "/api/messages?after=$seen"
missed=$(jq -c '[.messages[].content]' <<<"$BODY")
check "three or four were missed ($missed)" jq -e '(length == 3 or length == 4) and .[-1] == "after the kill 3"' <<<"$missed"
stream_open resumed -H "Last-Event-ID: $seen"
check "a stream resuming after the kill gets exactly what it missed" stream_wait resumed \
    ".[0].type == \"history\" and ([.[0].data[].content] == $missed)" 10
for s in watcher fresh resumed; do stream_close $s; done

# --- places freed at once -------------------------------------------------------
for i in $(seq 1 10); do
	stream_open "a$i" --interface 127.0.0.30
done
for i in $(seq 1 10); do
	stream_wait "a$i" '.[0].type == "history"' 10 || break
done
check "ten streams from one address" test "$i" = 10
for i in $(seq 1 10); do stream_close "a$i"; done
start=$(date +%s%N)
for i in $(seq 1 10); do
	stream_open "b$i" --interface 127.0.0.30
done
for i in $(seq 1 10); do
	stream_wait "b$i" '.[0].type == "history"' 10 || break
done
took=$((($(date +%s%N) - start) / 1000000))
check "closed and opened again, all ten get a stream ($took ms)" test "$i" = 10
check "  ... within 2 s" test "$took" -lt 2000
refused=$(grep -l '"success":false' "$T"/b*.sse 2>/dev/null | wc -l)
check "  ... none was refused" test "$refused" = 0
req GET /api/stream "" --interface 127.0.0.30
expect_error 429 "an eleventh stream from that address is still refused"
for i in $(seq 1 10); do stream_close "b$i"; done
