#!/bin/bash
# 84-metrics.sh -- GET /metrics: Prometheus's text format; the counters
# move as requests are made (requests by endpoint and status, latency,
# posts, streams, connects, drops, deliveries); an address not in
# CHATR_METRICS_ALLOW gets 403 JSON.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_METRICS_ALLOW=127.0.0.1 CHATR_LIMIT_MSG_UNVERIFIED=off \
    CHATR_LIMIT_REQUESTS_IP=off

# metric 'NAME{LABELS}': its value in a fresh scrape (0 when absent).
metric() {
	curl -s "$BASE/metrics" >"$T/metrics"
	awk -v m="$1" '$1 == m {print $2; found=1} END {if (!found) print 0}' "$T/metrics"
}

req GET /metrics
check "GET /metrics is 200" test "$STATUS" = 200
check "in Prometheus's text format" \
    eval 'header Content-Type | grep -q "^text/plain; version=0.0.4"'
well_formed() { # every sample NAME{LABELS} VALUE; HELP and TYPE per family
	local f
	if grep -v '^#' "$T/body" | grep -vEq '^chatr_[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? [0-9.e+-]+$'; then
		return 1
	fi
	for f in $(grep -v '^#' "$T/body" | sed -E 's/[{ ].*//; s/_(bucket|sum|count)$//' | sort -u); do
		grep -q "^# TYPE $f " "$T/body" && grep -q "^# HELP $f " "$T/body" || return 1
	done
}
check "every sample line is NAME{LABELS} VALUE, with HELP and TYPE for each family" well_formed

r0=$(metric 'chatr_requests_total{endpoint="register",status="200"}')
register alice
K=$KEY
r1=$(metric 'chatr_requests_total{endpoint="register",status="200"}')
check "a registration counts one register 200 ($r0 -> $r1)" test "$r1" = $((r0 + 1))
h1=$(metric 'chatr_request_duration_seconds_count{endpoint="register"}')
check "and one in the register latency histogram ($h1)" test "$h1" -ge 1
inf=$(metric 'chatr_request_duration_seconds_bucket{endpoint="register",le="+Inf"}')
check "whose +Inf bucket is its count" test "$inf" = "$h1"

u0=$(metric 'chatr_requests_total{endpoint="messages",status="401"}')
post chatr_00000000000000000000000000000000 "who am I"
expect_error 401 "a post with a wrong key is 401"
u1=$(metric 'chatr_requests_total{endpoint="messages",status="401"}')
check "it counts one messages 401 ($u0 -> $u1)" test "$u1" = $((u0 + 1))

c0=$(metric chatr_stream_connects_total)
stream_open s
check "a stream opens" stream_wait s 'map(select(.type == "history")) | length == 1'
check "chatr_streams says 1" wait_for 5 eval '[ "$(metric chatr_streams)" = 1 ]'
check "a stream connect is counted" wait_for 5 eval '[ "$(metric chatr_stream_connects_total)" = $((c0 + 1)) ]'
p0=$(metric chatr_messages_posted_total)
d0=$(metric chatr_deliveries_total)
m0=$(metric 'chatr_requests_total{endpoint="messages",status="200"}')
post "$K" "counted"
expect 200 '.success == true' "a post"
check "it counts one post" test "$(metric chatr_messages_posted_total)" = $((p0 + 1))
check "and one messages 200" test "$(metric 'chatr_requests_total{endpoint="messages",status="200"}')" = $((m0 + 1))
check "the stream gets it" stream_wait s 'map(select(.type == "message")) | length == 1'
check "and one delivery is counted" wait_for 5 eval '[ "$(metric chatr_deliveries_total)" = $((d0 + 1)) ]'
x0=$(metric 'chatr_stream_drops_total{cause="closed"}')
stream_close s
# (the relay sees a client gone at its next write: a keep-alive at most)
check "once the client is gone chatr_streams is 0 again" \
    wait_for 20 eval '[ "$(metric chatr_streams)" = 0 ]'
# (the relay publishes its counters every 100 ms)
check "and the stream is counted as a drop, cause closed" \
    wait_for 5 eval '[ "$(metric "chatr_stream_drops_total{cause=\"closed\"}")" = $((x0 + 1)) ]'

req GET /metrics '' --interface 127.0.0.2
expect_error 403 "an address not in CHATR_METRICS_ALLOW gets 403 JSON"
check "that 403 is counted too" test "$(metric 'chatr_requests_total{endpoint="metrics",status="403"}')" = 1
