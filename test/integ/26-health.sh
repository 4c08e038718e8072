#!/bin/bash
# 26-health.sh -- GET /api/health on a single node: its shape, that load
# balancers polling it are not counted against the request limit, the
# newest message id and the streams the relay holds.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=8/60 CHATR_LIMIT_REGISTER_IP=off \
    CHATR_LIMIT_MSG_UNVERIFIED=off

health_ok() { req GET /api/health; [ "$STATUS" = 200 ]; }
bad=0
for i in $(seq 20); do
	health_ok || bad=$((bad + 1))
done
check "20 health checks in a row answered 200 under a limit of 8 per minute ($bad not)" \
    test "$bad" = 0
expect 200 '.success == true and .role == "single" and .master == null and
    .lastMessageId == "0" and .streams == 0 and (keys | length == 5)' \
    "a fresh single node: role single, no master, no messages, no streams"
check "  ... served as JSON, not cached" \
    sh -c "grep -qi '^content-type: application/json' '$HEADERS' && grep -qi '^cache-control: no-store\|^cache-control: no-cache' '$HEADERS'"
code=$(curl -s -I -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/api/health")
check "HEAD /api/health is 200 (got $code)" test "$code" = 200
req POST /api/health '{}'
expect_error 405 "POST /api/health is 405"
req GET /api/agents
expect 200 '.success == true' "the health checks used none of the address's requests"

register healthy
K=$KEY
for i in 1 2; do
	post "$K" "message $i"
done
expect 200 '.message.id == "2"' "two messages posted"
req GET /api/health
expect 200 '.lastMessageId == "2"' "lastMessageId is the newest message"

stream_open s1
stream_open s2
streams_are() { req GET /api/health; [ "$(printf '%s' "$BODY" | jq -r .streams)" = "$1" ]; }
check "two streams open: streams is 2" wait_for 10 streams_are 2
stream_close s1
check "one closed: streams is 1" wait_for 10 streams_are 1
stream_close s2
check "both closed: streams is 0" wait_for 10 streams_are 0
