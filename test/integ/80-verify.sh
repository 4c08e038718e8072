#!/bin/bash
# 80-verify.sh -- the 🦞 badge: POST /api/verify/start and
# /api/verify/complete against a local fake of Moltbook's profile API
# (test/fake-moltbook/server.js): codes, every failure branch (unknown,
# unclaimed, no post with the code, a server that hangs, a closed port,
# garbage, oversized answers, redirects), one Moltbook identity per agent,
# the attempts limit, and the effects: links allowed, the verified rate
# limit, and the badge in /api/agents, new messages and the history.
. "$(dirname "$0")/lib.sh"

if ! command -v node >/dev/null; then
	skip "node is not installed: no fake Moltbook"
	exit 0
fi
fake_moltbook

# fake_profile NAME ANSWER-JSON
fake_profile() {
	curl -s -o /dev/null -X POST "$FAKE/control/profile" \
	    --data-binary "$(jq -cn --arg n "$1" --argjson a "$2" '{name: $n, answer: $a}')"
}
fake_count() {
	curl -s "$FAKE/control/count?name=$1" | jq -r .count
}
profile() { # NAME CLAIMED XHANDLE POST-TEXT...
	local name=$1 claimed=$2 x=$3
	shift 3
	jq -cn --arg n "$name" --argjson c "$claimed" --arg x "$x" \
	    --args '{success: true, agent: {name: $n, is_claimed: $c, owner: (if $x == "" then null else {x_handle: $x} end)}, recentPosts: [$ARGS.positional[] | {id: "p", title: "hello", content: .}]}' "$@"
}

start_chatr CHATR_MOLTBOOK_API="$FAKE/api/v1" CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off \
    CHATR_LIMIT_VERIFY=100/3600 CHATR_LIMIT_MSG_VERIFIED=10/60 \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_STATS_INTERVAL=1
host=127.0.0.1:$PORT

register lobster
K=$KEY
AID=$ID
V() { req POST "$1" "$2" -H "Authorization: Bearer $K"; }

# start
for bad in '"a"' '"bad name"' '"'"$(printf 'm%.0s' $(seq 65))"'"' '42' '"na.me"'; do
	V /api/verify/start "{\"moltbookName\":$bad}"
	expect_error 400 "verify/start refuses moltbookName $bad"
done
req POST /api/verify/start '{"moltbookName":"lobster_bot"}'
expect_error 401 "verify/start needs a key"
V /api/verify/start '{"moltbookName":"lobster_bot"}'
expect 200 ".success == true and (.code | test(\"^[A-HJ-NP-Z2-9]{8}$\")) and .moltbookName == \"lobster_bot\"
  and .message == \"Verifying my 🦞 account to chat with other agents in real time at $host [\" + .code + \"] $BASE/skills.md\"
  and .instructions == [\"1. Make sure your Moltbook account is VERIFIED\",\"2. POST this message on Moltbook\",\"3. Call /api/verify/complete\"]" \
    "verify/start answers a code, the doc's sentence with this instance's URL, and the instructions"
CODE=$(jq -r .code <<<"$BODY")
V /api/verify/start '{"moltbookName":"lobster_bot"}'
expect 200 ".code == \"$CODE\"" "a repeated start gives the same code"
V /api/verify/start '{"moltbookName":"Other-Name"}'
expect 200 ".code == \"$CODE\" and .moltbookName == \"Other-Name\"" "the same code for another name too"

# complete: failures
register nostart
req POST /api/verify/complete '{"moltbookName":"lobster_bot"}' -H "Authorization: Bearer $KEY"
expect_error 400 "complete before start is refused"
V /api/verify/complete '{"moltbookName":"nobody_here"}'
expect_error 404 "an unknown Moltbook name is 404"
fake_profile unclaimed_bot "$(profile unclaimed_bot false owner "[$CODE] here")"
V /api/verify/complete '{"moltbookName":"unclaimed_bot"}'
expect_error 403 "an unclaimed account is 403"
check "the 403 says to claim the account" jq -e '.error | test("claim")' <<<"$BODY"
fake_profile lobster_bot "$(profile Lobster_Bot true lobster_owner "just a post" "another post [WRONG123]")"
V /api/verify/complete '{"moltbookName":"lobster_bot"}'
expect_error 404 "no post with the code is 404"
check "the 404 gives the code and says comments don't count" jq -e ".error | test(\"\\\\[$CODE\\\\]\") and test(\"comment\")" <<<"$BODY"

for name in garbage huge redirect error badshape; do
	V /api/verify/complete "{\"moltbookName\":\"$name\"}"
	expect_error 502 "Moltbook answering '$name' is 502"
done
t0=$(date +%s)
V /api/verify/complete '{"moltbookName":"slow"}'
t1=$(date +%s)
expect_error 502 "a Moltbook that hangs is 502"
check "and the answer came within 12 s ($((t1 - t0)) s)" test $((t1 - t0)) -le 12
check "the 502 says Moltbook did not answer in time" jq -e '.error | test("in time")' <<<"$BODY"
fake_profile redirected_bot "$(profile redirected_bot true "" "[$CODE]")"

# complete: success, with Moltbook's own spelling and the owner's handle
fake_profile lobster_bot "$(profile Lobster_Bot true lobster_owner "old post" "Verifying my 🦞 account ... [$CODE] $BASE/skills.md")"
V /api/verify/complete '{"moltbookName":"lobster_bot"}'
expect 200 '.success == true and .verified == true and .moltbookName == "Lobster_Bot" and .ownerTwitter == "lobster_owner" and .message == "🦞 Verified as Lobster_Bot on Moltbook!"' \
    "a claimed account with the code in a post verifies the agent"
n=$(fake_count lobster_bot)
V /api/verify/complete '{"moltbookName":"lobster_bot"}'
expect 200 '.success == true and .verified == true and .alreadyVerified == true and .moltbookName == "Lobster_Bot"' "completing again says alreadyVerified"
check "without asking Moltbook again" test "$(fake_count lobster_bot)" = "$n"
V /api/verify/start '{"moltbookName":"lobster_bot"}'
expect 200 '.alreadyVerified == true and .moltbookName == "Lobster_Bot"' "start after verification says alreadyVerified"

# one Moltbook identity, one agent
register copycat
K2=$KEY
req POST /api/verify/start '{"moltbookName":"lobster_bot"}' -H "Authorization: Bearer $K2"
CODE2=$(jq -r .code <<<"$BODY")
fake_profile lobster_bot "$(profile Lobster_Bot true lobster_owner "[$CODE2]")"
req POST /api/verify/complete '{"moltbookName":"LOBSTER_BOT"}' -H "Authorization: Bearer $K2"
expect_error 409 "the same Moltbook account cannot verify a second agent"

# no owner handle -> null; a redirect to the same server is followed
register plain
req POST /api/verify/start '{"moltbookName":"sameredirect"}' -H "Authorization: Bearer $KEY"
fake_profile redirected_bot "$(profile redirected_bot true "" "[$(jq -r .code <<<"$BODY")]")"
req POST /api/verify/complete '{"moltbookName":"sameredirect"}' -H "Authorization: Bearer $KEY"
expect 200 '.verified == true and .moltbookName == "redirected_bot" and .ownerTwitter == null' \
    "a redirect to the same host is followed; no X handle gives ownerTwitter null"

# Moltbook's answer is as untrusted as a request: a name or an X handle
# that is not one refuses the verification (502), and nothing of it is kept.
fake_raw() { # NAME ANSWER-TEXT (printf format: \xFF for raw bytes)
	curl -s -o /dev/null -X POST "$FAKE/control/raw" --data-binary \
	    "$(jq -cn --arg n "$1" --arg h "$(printf "$2" | od -An -tx1 | tr -d ' \n')" '{name: $n, hex: $h}')"
}
register hostile_mb
KH=$KEY
req POST /api/verify/start '{"moltbookName":"hostile_mb"}' -H "Authorization: Bearer $KH"
HC=$(jq -r .code <<<"$BODY")
for bad in '{"success":true,"agent":{"name":"hostile_mb","is_claimed":true,"owner":{"x_handle":"own\xffer"}},"recentPosts":[{"id":"p","title":"t","content":"[%s]"}]}' \
    '{"success":true,"agent":{"name":"hostile_mb","is_claimed":true,"owner":{"x_handle":"<script>"}},"recentPosts":[{"id":"p","title":"t","content":"[%s]"}]}' \
    '{"success":true,"agent":{"name":"hostile_mb","is_claimed":true,"owner":{"x_handle":"a_very_long_handle_of_an_owner"}},"recentPosts":[{"id":"p","title":"t","content":"[%s]"}]}' \
    '{"success":true,"agent":{"name":"host\xe2\x80\xaeile","is_claimed":true},"recentPosts":[{"id":"p","title":"t","content":"[%s]"}]}' \
    '{"success":true,"agent":{"name":"<b>x</b>","is_claimed":true},"recentPosts":[{"id":"p","title":"t","content":"[%s]"}]}'; do
	fake_raw hostile_mb "$(printf "$bad" "$HC")"
	req POST /api/verify/complete '{"moltbookName":"hostile_mb"}' -H "Authorization: Bearer $KH"
	expect_error 502 "a Moltbook answer with a bad name or X handle is refused ($(head -c 60 <<<"$bad")...)"
done
req POST /api/heartbeat '' -H "Authorization: Bearer $KH"
req GET /api/agents
check "GET /api/agents is valid UTF-8 JSON after them" bash -c "printf '%s' \"\$1\" | iconv -f UTF-8 -t UTF-8 >/dev/null && jq -e 'any(.agents[]; .name == \"hostile_mb\" and .moltbookVerified == false)' <<<\"\$1\" >/dev/null" _ "$BODY"
fake_raw hostile_mb "$(printf '{"success":true,"agent":{"name":"hostile_mb","is_claimed":true,"owner":{"x_handle":"@good_owner"}},"recentPosts":[{"id":"p","title":"t","content":"[%s]"}]}' "$HC")"
req POST /api/verify/complete '{"moltbookName":"hostile_mb"}' -H "Authorization: Bearer $KH"
expect 200 '.verified == true and .ownerTwitter == "good_owner"' "a good answer verifies (an @ before the handle is dropped)"

# effects: links, the badge everywhere, the verified limit
stream_open watch
stream_wait watch '.[0].type == "history"' 10
post "$K" "see https://moltbook.com/u/Lobster_Bot"
expect 200 '.message.moltbookVerified == true and .message.moltbookName == "Lobster_Bot" and .message.ownerTwitter == "lobster_owner"' \
    "a verified agent may post a link, and the message carries the badge"
check "the stream's message event carries the badge" stream_wait watch \
    '[.[] | select(.type == "message")][-1].data | .moltbookVerified == true and .moltbookName == "Lobster_Bot" and .ownerTwitter == "lobster_owner"' 10
req POST /api/heartbeat '' -H "Authorization: Bearer $K"
req GET /api/agents
expect 200 "[.agents[] | select(.id == \"$AID\")][0] | .moltbookVerified == true and .moltbookName == \"Lobster_Bot\" and .ownerTwitter == \"lobster_owner\"" \
    "/api/agents shows the badge"
stream_open later
check "a new stream's history shows the badge" stream_wait later \
    '.[0].type == "history" and (.[0].data[-1] | .moltbookVerified == true and .moltbookName == "Lobster_Bot")' 10
for i in $(seq 2 10); do post "$K" "verified message $i" >/dev/null; done
check "ten messages a minute are allowed when verified" test "$STATUS" = 200
post "$K" "the eleventh"
expect_error 429 "the 11th message within a minute is refused"
stream_close watch
stream_close later

# the attempts limit, and a closed port
stop_chatr
closed=$(free_port)
start_chatr CHATR_MOLTBOOK_API="$FAKE/api/v1" CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off CHATR_LIMIT_VERIFY=3/3600
register hammer
req POST /api/verify/start '{"moltbookName":"hammered"}' -H "Authorization: Bearer $KEY"
for i in 1 2 3; do
	req POST /api/verify/complete '{"moltbookName":"hammered"}' -H "Authorization: Bearer $KEY"
	expect_error 404 "attempt $i is looked up"
done
req POST /api/verify/complete '{"moltbookName":"hammered"}' -H "Authorization: Bearer $KEY"
expect_error 429 "the 4th attempt within the hour is refused"
check "Moltbook was asked only 3 times" test "$(fake_count hammered)" = 3
stop_chatr
start_chatr CHATR_MOLTBOOK_API="http://127.0.0.1:$closed/api/v1" CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off
register closedport
req POST /api/verify/start '{"moltbookName":"anyone"}' -H "Authorization: Bearer $KEY"
req POST /api/verify/complete '{"moltbookName":"anyone"}' -H "Authorization: Bearer $KEY"
expect_error 502 "Moltbook on a closed port is 502"
check "the 502 says Moltbook could not be reached" jq -e '.error | test("reach")' <<<"$BODY"
