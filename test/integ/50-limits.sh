#!/bin/bash
# 50-limits.sh -- the per-address request limit CHATR_LIMIT_REQUESTS_IP:
# every /api request from one address counts (any endpoint, refused keys
# too); past the limit a JSON 429 with Retry-After (whole seconds, within
# the window) and retryAfter in the body; other addresses are unaffected;
# a forged X-Forwarded-For changes nothing; the window slides (a 3/2 limit
# lets requests through again after Retry-After); "off" lifts the limit.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=5/60 CHATR_LIMIT_REGISTER_IP=off

A=(--interface 127.0.0.2)
B=(--interface 127.0.0.3)

# Five requests of all kinds from A, the last two refused for their key.
register limited "${A[@]}"
expect 200 '.success == true' "request 1 from A: register"
K=$KEY
req POST /api/heartbeat '' -H "Authorization: Bearer $K" "${A[@]}"
expect 200 '.online == true' "request 2 from A: heartbeat"
req GET /api/agents '' "${A[@]}"
expect 200 '.success == true' "request 3 from A: agents"
req POST /api/heartbeat '' -H "Authorization: Bearer chatr_00000000000000000000000000000000" "${A[@]}"
expect_error 401 "request 4 from A: heartbeat with an unknown key (401)"
req POST /api/disconnect '' "${A[@]}"
expect_error 401 "request 5 from A: disconnect without a key (401)"

# The 6th and later: 429 whatever the endpoint or key.
req GET /api/agents '' "${A[@]}"
expect_error 429 "request 6 from A is 429"
expect 429 '(.retryAfter | type == "number" and . >= 1 and . <= 60 and floor == .)' \
    "  ... with retryAfter in whole seconds within the window"
ra=$(header Retry-After)
check "  ... and a Retry-After header of whole seconds 1..60 (got '$ra')" \
    sh -c "printf '%s' '$ra' | grep -Eqx '[0-9]+' && [ '$ra' -ge 1 ] && [ '$ra' -le 60 ]"
check "  ... equal to the body's retryAfter" test "$ra" = "$(jq -r .retryAfter <<<"$BODY")"
check "  ... the error says what the limit is" jq -e '.error | test("5") and test("60")' <<<"$BODY"
check "  ... as JSON" grep -qi '^content-type: application/json' "$HEADERS"
req POST /api/heartbeat '' -H "Authorization: Bearer $K" "${A[@]}"
expect_error 429 "a heartbeat with a good key from A is 429 too"
req POST /api/register '{"name":"overlimit"}' "${A[@]}"
expect_error 429 "a registration from A is 429"
req POST /api/messages '{"content":"x"}' -H "Authorization: Bearer $K" "${A[@]}"
expect_error 429 "a message from A is 429"
req POST /api/disconnect '' -H "Authorization: Bearer chatr_00000000000000000000000000000000" "${A[@]}"
expect_error 429 "a refused key from A is 429 (the limit comes before the key)"
req GET /api/agents '' -H 'X-Forwarded-For: 10.1.2.3' -H 'X-Real-IP: 10.1.2.3' -H 'Forwarded: for=10.1.2.3' "${A[@]}"
expect_error 429 "a forged X-Forwarded-For does not escape the limit"
req POST /api/register '{"name":"overlimit"}' "${B[@]}"
expect 200 '.success == true' "meanwhile the name A tried was not taken"

# Another address is unaffected (B made one request above), and A's key
# works from there.
req POST /api/heartbeat '' -H "Authorization: Bearer $K" "${B[@]}"
expect 200 '. == {"success":true,"online":true}' "B may use A's key"
req GET /api/agents '' "${B[@]}"
expect 200 '.success == true and .stats.totalAgents == 2' "B is not limited"
for i in 4 5; do
	req GET /api/agents '' "${B[@]}"
	expect 200 '.success == true' "request $i from B"
done
req GET /api/agents '' "${B[@]}"
expect_error 429 "B's 6th request is 429 too"
req GET /api/agents '' --interface 127.0.0.4
expect 200 '.success == true' "a third address is still fine"

# Refused requests do not count as activity, nor did they touch A's agent.
req GET /api/agents '' --interface 127.0.0.5
expect 200 '(.agents | length == 1) and .agents[0].name == "limited"' \
    "only the heartbeat that got through made the agent online"

# A short window slides: 3 per 2 s.
stop_chatr
start_chatr CHATR_LIMIT_REQUESTS_IP=3/2 CHATR_LIMIT_REGISTER_IP=off
C=(--interface 127.0.0.6)
for i in 1 2 3; do
	req GET /api/agents '' "${C[@]}"
	expect 200 '.success == true' "3/2: request $i"
done
req GET /api/agents '' "${C[@]}"
expect_error 429 "3/2: request 4 is 429"
ra=$(header Retry-After)
check "3/2: Retry-After is 1 or 2 (got '$ra')" sh -c "[ '$ra' = 1 ] || [ '$ra' = 2 ]"
sleep "${ra:-2}"
sleep 0.2
req GET /api/agents '' "${C[@]}"
expect 200 '.success == true' "3/2: after Retry-After seconds requests go through again"

# The state survives a restart: limits are kept in the store.
stop_chatr
start_chatr CHATR_LIMIT_REQUESTS_IP=5/60 CHATR_LIMIT_REGISTER_IP=off
req GET /api/agents '' "${A[@]}"
expect_error 429 "A is still limited after a restart"

# "off" lifts the limit.
stop_chatr
start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off
n=0
for i in $(seq 1 30); do
	req GET /api/agents '' "${A[@]}"
	[ "$STATUS" = 200 ] && n=$((n + 1))
done
check "with the limit off, 30 requests from A all succeed ($n of 30)" test "$n" = 30
req POST /api/heartbeat '' -H "Authorization: Bearer $K" "${A[@]}"
expect 200 '. == {"success":true,"online":true}' "and A's key works from A again"
