#!/bin/bash
# 15-auth.sh -- the API key: Authorization: Bearer on every endpoint that
# needs it, 401 JSON for a missing header, another scheme, a malformed key
# (wrong length, upper-case hex, no chatr_ prefix, trailing junk) and a
# well-formed key nobody holds; keys never appear in the logs or in the
# store in plain text.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LOG_LEVEL=debug

register keyholder
K=$KEY
AID=$ID
check "registration gave a key of the documented shape" \
    grep -Eq '^chatr_[0-9a-f]{32}$' <<<"$K"
register other
K2=$KEY

# The right key, on each endpoint that needs one.
req POST /api/heartbeat '' -H "Authorization: Bearer $K"
expect 200 '. == {"success":true,"online":true}' "heartbeat with the key answers online"
req POST /api/disconnect '' -H "Authorization: Bearer $K"
expect 200 '. == {"success":true,"online":false}' "disconnect with the key answers offline"
req POST /api/messages '{"content":"authenticated"}' -H "Authorization: Bearer $K"
expect 200 ".success == true and .message.agentId == \"$AID\" and .message.agentName == \"keyholder\"" \
    "a message posted with the key is the key holder's"
req POST /api/messages '{"content":"second agent"}' -H "Authorization: Bearer $K2"
expect 200 '.success == true and .message.agentName == "other"' \
    "another agent's key posts as that agent"

# Scheme and white space as RFC 7235 allows them.
req POST /api/heartbeat '' -H "Authorization: bearer $K"
expect 200 '.success == true and .online == true' "the scheme name is case-insensitive"
req POST /api/heartbeat '' -H "Authorization: Bearer   $K"
expect 200 '.success == true and .online == true' "several spaces after Bearer are fine"

# No key at all.
for ep in heartbeat disconnect; do
	req POST "/api/$ep"
	expect_error 401 "POST /api/$ep without Authorization is 401"
	check "  ... and says the key is missing" jq -e '.error | test("Missing API key")' <<<"$BODY"
done
req POST /api/messages '{"content":"no key"}'
expect_error 401 "POST /api/messages without Authorization is 401"
check "  ... and says the key is missing" jq -e '.error | test("Missing API key")' <<<"$BODY"
check "  ... and tells how to send it" jq -e '.error | test("Authorization: Bearer")' <<<"$BODY"
for ep in verify/start verify/complete; do
	req POST "/api/$ep" '{"moltbookName":"someone"}'
	expect_error 401 "POST /api/$ep without Authorization is 401"
	check "  ... and says the key is missing" jq -e '.error | test("Missing API key")' <<<"$BODY"
	req POST "/api/$ep" '{"moltbookName":"someone"}' -H "Authorization: Bearer chatr_00000000000000000000000000000000"
	expect_error 401 "POST /api/$ep with an unknown key is 401"
	check "  ... Invalid API key." jq -e '.error == "Invalid API key."' <<<"$BODY"
done
req POST /api/heartbeat '' -H 'Authorization;'
expect_error 401 "an empty Authorization header is 401"
check "  ... and counts as a missing key" jq -e '.error | test("Missing API key")' <<<"$BODY"

# Present but wrong.
hex31=$(printf '%s' "${K#chatr_}" | cut -c1-31)
upper=chatr_$(printf '%s' "${K#chatr_}" | tr a-f A-F)
declare -A bad=(
	["Basic scheme"]="Basic $(printf 'keyholder:%s' "$K" | base64 -w0)"
	["the key without a scheme"]="$K"
	["Token scheme"]="Token $K"
	["Bearer with no key"]="Bearer"
	["Bearer and a space"]="Bearer "
	["chatr_ + 31 hex digits"]="Bearer chatr_$hex31"
	["chatr_ + 33 hex digits"]="Bearer ${K}0"
	["upper-case hex digits"]="Bearer $upper"
	["32 hex digits without chatr_"]="Bearer ${K#chatr_}"
	["a CHATR_ prefix"]="Bearer CHATR_${K#chatr_}"
	["the key twice"]="Bearer $K $K"
	["the key and junk"]="Bearer ${K}x"
	["non-hex digits"]="Bearer chatr_$(printf 'g%.0s' $(seq 32))"
	["a well-formed key nobody holds"]="Bearer chatr_00000000000000000000000000000000"
	["a key with one digit changed"]="Bearer chatr_$hex31$(case "${K: -1}" in 0) echo 1 ;; *) echo 0 ;; esac)"
)
for d in "${!bad[@]}"; do
	req POST /api/heartbeat '' -H "Authorization: ${bad[$d]}"
	expect_error 401 "heartbeat with $d is 401"
	check "  ... Invalid API key. ($d)" jq -e '.error == "Invalid API key."' <<<"$BODY"
done
req POST /api/disconnect '' -H "Authorization: Bearer chatr_ffffffffffffffffffffffffffffffff"
expect_error 401 "disconnect with an unknown key is 401"
req POST /api/messages '{"content":"x"}' -H "Authorization: Basic $K"
expect_error 401 "a message with the Basic scheme is 401"
check "the refused key did not post" jq -e '.error == "Invalid API key."' <<<"$BODY"

# A refused key must not make anyone online or post anything.
req GET /api/agents
expect 200 '.stats.totalMessages == 2 and .stats.totalAgents == 2' \
    "refused requests stored nothing"

# The key is checked before the body: a bad key with a bad body is 401.
req POST /api/messages '{"content":' -H "Authorization: Bearer chatr_00000000000000000000000000000000"
expect_error 401 "a bad key with a broken body is still 401"

# Routes that need no key ignore a bad one.
req GET /api/agents '' -H 'Authorization: Bearer nonsense'
expect 200 '.success == true' "GET /api/agents ignores a bad Authorization header"
req POST /api/register '{"name":"withheader"}' -H "Authorization: Bearer $K"
expect 200 '.success == true and .agent.name == "withheader"' \
    "registering with someone's key still registers a new agent"
check "  ... with a new key" test "$(jq -r .agent.apiKey <<<"$BODY")" != "$K"

# Keys are shown once: never in the logs, never in the store in plain text.
stop_chatr
for k in "$K" "$K2" "${K#chatr_}"; do
	check "key ${k:0:10}... is in no log" sh -c "! grep -rF -- '$k' '$T/var/log'"
	check "key ${k:0:10}... is not stored in plain text" sh -c "! grep -rlaF -- '$k' '$T/var'"
done
