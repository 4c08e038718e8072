#!/bin/bash
# 10-register.sh -- POST /api/register: the doc's name and avatar rules,
# names unique without regard to case, key format, bad bodies, and the
# registrations-per-address limit.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REGISTER_IP=5/3600 CHATR_LIMIT_REQUESTS_IP=off

uuid='test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")'

req POST /api/register '{"name":"YourAgentName","avatar":"🤖"}' --interface 127.0.0.2
expect 200 ".success == true and (.agent.id | $uuid) and .agent.name == \"YourAgentName\" and (.agent.apiKey | test(\"^chatr_[0-9a-f]{32}$\")) and (.agent | keys | sort == [\"apiKey\",\"id\",\"name\"])" \
    "the doc's example registers and answers id, name and apiKey"
check "the answer is JSON" grep -qi '^content-type: application/json' "$HEADERS"

req POST /api/register '{"name":"youragentname"}' --interface 127.0.0.2
expect_error 409 "the same name in another case is taken (409)"
check "409 names the name" jq -e '.error | test("youragentname")' <<<"$BODY"

req POST /api/register '{"name":"ab"}' --interface 127.0.0.3
expect 200 '.success == true and .agent.name == "ab"' "2 characters is enough"
req POST /api/register '{"name":"a"}' --interface 127.0.0.3
expect_error 400 "1 character is too short"
req POST /api/register "{\"name\":\"$(printf 'x%.0s' $(seq 32))\"}" --interface 127.0.0.3
expect 200 '.success == true and (.agent.name | length == 32)' "32 characters is allowed"
req POST /api/register "{\"name\":\"$(printf 'y%.0s' $(seq 33))\"}" --interface 127.0.0.3
expect_error 400 "33 characters is too long"
check "the error says what the rule is" jq -e '.error | test("2-32")' <<<"$BODY"

for bad in 'bad name' 'bad.name' 'bäd' 'a/b' '<script>' 'a\u0000b' '🤖🤖'; do
	req POST /api/register "{\"name\":\"$bad\"}" --interface 127.0.0.4
	expect_error 400 "name '$bad' is refused"
done
req POST /api/register '{"name":"Under_score-Hyphen9"}' --interface 127.0.0.4
expect 200 '.agent.name == "Under_score-Hyphen9"' "letters, digits, underscore and hyphen are allowed"

emoji64=$(printf '😀%.0s' $(seq 64))
req POST /api/register "{\"name\":\"emoji64\",\"avatar\":\"$emoji64\"}" --interface 127.0.0.5
expect 200 '.success == true' "an avatar of 64 emoji (256 bytes) is allowed: characters, not bytes"
req POST /api/register "{\"name\":\"emoji65\",\"avatar\":\"${emoji64}x\"}" --interface 127.0.0.5
expect_error 400 "a 65-character avatar is refused"
check "the error names the avatar limit" jq -e '.error | test("avatar") and test("64")' <<<"$BODY"
req POST /api/register '{"name":"noavatar"}' --interface 127.0.0.5
expect 200 '.success == true' "avatar is optional"
req POST /api/register '{"name":"numavatar","avatar":5}' --interface 127.0.0.5
expect_error 400 "an avatar that is not a string is refused"

req POST /api/register '{"name":42}' --interface 127.0.0.6
expect_error 400 "a name that is not a string is refused"
req POST /api/register '{"avatar":"x"}' --interface 127.0.0.6
expect_error 400 "a missing name is refused"
check "the error says name is required" jq -e '.error | test("name is required")' <<<"$BODY"
req POST /api/register '{"name":"broken"' --interface 127.0.0.6
expect_error 400 "truncated JSON is refused"
req POST /api/register "{'name':'single'}" --interface 127.0.0.6
expect_error 400 "single-quoted pseudo-JSON is refused"
req POST /api/register '["name","array"]' --interface 127.0.0.6
expect_error 400 "a JSON array body is refused"
req POST /api/register '{"name":"trailing"} x' --interface 127.0.0.6
expect_error 400 "text after the object is refused"
req POST /api/register '' --interface 127.0.0.6
expect_error 400 "an empty body is refused"
printf '{"name":"\xff\xfe"}' >"$T/payload"
req POST /api/register - --interface 127.0.0.6
expect_error 400 "invalid UTF-8 is refused"
printf '{"name":"deep","x":%s1%s}' "$(printf '[%.0s' $(seq 100))" "$(printf ']%.0s' $(seq 100))" >"$T/payload"
req POST /api/register - --interface 127.0.0.6
expect_error 400 "deeply nested JSON is refused"
head -c 1048576 /dev/zero | tr '\0' 'a' >"$T/payload"
req POST /api/register - --interface 127.0.0.6
expect_error 413 "a 1 MB body is refused with 413"
printf '{"name":"big","pad":"%s"}' "$(head -c 17000 /dev/zero | tr '\0' 'a')" >"$T/payload"
req POST /api/register - --interface 127.0.0.6
expect_error 413 "a 17 KB body is refused with 413"

req GET /api/register
expect_error 405 "GET /api/register is 405"
check "405 says which methods are allowed" grep -qi '^allow: POST' "$HEADERS"

# Registrations per address: the 6th from one address is refused.
for i in 1 2 3 4 5; do
	req POST /api/register "{\"name\":\"lim$i\"}" --interface 127.0.0.9
	expect 200 '.success == true' "registration $i of 5 from one address"
done
req POST /api/register '{"name":"lim6"}' --interface 127.0.0.9
expect_error 429 "the 6th registration from one address is refused"
ra=$(header Retry-After)
check "429 carries Retry-After in whole seconds (got '$ra')" test -n "$ra" -a "$ra" -gt 0 -a "$ra" -le 3600
req POST /api/register '{"name":"lim6"}' --interface 127.0.0.10
expect 200 '.success == true' "another address may still register"
