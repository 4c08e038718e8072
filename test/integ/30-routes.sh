#!/bin/bash
# 30-routes.sh -- routing in front of the programs: JSON 404 for unknown
# /api/ paths and unknown static files, 405 with Allow for a wrong method,
# lighttpd's own errors (411, 501, 503) as static JSON documents, also when
# the programs are out of reach, HEAD, query strings, path tricks, and the
# static site (GET / and GET /skills.md with this instance's base URL).
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off

json_ct() {
	grep -qi '^content-type: application/json' "$HEADERS"
}
# allow_has METHOD...: the last answer's Allow header lists these methods.
allow_has() {
	local a m
	a=$(header Allow)
	[ -n "$a" ] || return 1
	for m in "$@"; do
		printf '%s\n' "$a" | tr ',' '\n' | tr -d ' ' | grep -qx "$m" || {
			echo "Allow: $a lacks $m"
			return 1
		}
	done
}
allow_lacks() {
	local a
	a=$(header Allow)
	! printf '%s\n' "$a" | tr ',' '\n' | tr -d ' ' | grep -qx "$1"
}

register router
K=$KEY

# Unknown paths under /api/ (including prefixes of real routes).
for p in /api/nope /api/registerx /api/agents/extra /api/register/ \
    /api/heartbeat/x /api/Agents /api/ /api /api/error /api/verify/nope \
    /api/verify /api/verify/startx /api/verify/start/x \
    '/api/nope?x=1'; do
	req GET "$p"
	expect_error 404 "GET $p is a JSON 404"
	check "  ... with a JSON content type ($p)" json_ct
done
req POST /api/nope '{"name":"x"}'
expect_error 404 "POST /api/nope is a JSON 404"
check "the 404 names the path" jq -e '.error | test("/api/nope")' <<<"$BODY"
req DELETE /api/registerx
expect_error 404 "DELETE /api/registerx is a JSON 404"
req POST /api/heartbeat/extra '' -H "Authorization: Bearer $K"
expect_error 404 "POST /api/heartbeat/extra with a good key is still 404"

# Unknown static paths.
for p in /nope.html /nope /skills.md.in /www/index.html /.git/config; do
	req GET "$p"
	expect_error 404 "GET $p is a JSON 404"
	check "  ... with a JSON content type ($p)" json_ct
done
curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 10 \
    --path-as-is "$BASE/../../../etc/passwd" >"$T/st" || :
STATUS=$(cat "$T/st"); BODY=$(cat "$T/body"); HEADERS=$T/headers
expect_error 404 "GET /../../../etc/passwd (path as is) is a JSON 404"
check "  ... and shows no system file" sh -c "! grep -q 'root:' '$T/body'"

# 405 with Allow.
for ep in register heartbeat disconnect verify/start verify/complete; do
	for m in GET PUT DELETE PATCH; do
		req "$m" "/api/$ep"
		expect_error 405 "$m /api/$ep is 405"
		check "  ... Allow: POST ($m /api/$ep)" allow_has POST
	done
	check "  ... and Allow does not offer GET (/api/$ep)" allow_lacks GET
done
req GET /api/heartbeat '' -H "Authorization: Bearer $K"
expect_error 405 "GET /api/heartbeat with a good key is still 405"
for m in POST PUT DELETE PATCH; do
	req "$m" /api/agents '{"x":1}'
	expect_error 405 "$m /api/agents is 405"
	check "  ... Allow: GET, HEAD ($m)" allow_has GET HEAD
	check "  ... Allow does not offer POST ($m)" allow_lacks POST
done
check "the 405 names the method" jq -e '.error | test("PATCH")' <<<"$BODY"
req PUT /api/messages '{"content":"x"}' -H "Authorization: Bearer $K"
expect_error 405 "PUT /api/messages is 405"
check "  ... Allow: GET, HEAD, POST" allow_has GET HEAD POST
req OPTIONS /api/agents
check "OPTIONS /api/agents is answered cleanly (status $STATUS)" \
    sh -c "[ '$STATUS' = 405 ] || [ '$STATUS' = 200 ] || [ '$STATUS' = 204 ] || [ '$STATUS' = 501 ]"

# Methods lighttpd does not know: 501 as JSON.
req FOO /api/agents
expect_error 501 "an unknown method (FOO) is a JSON 501"
check "  ... with a JSON content type" json_ct

# A POST without Content-Length: lighttpd's 411, as JSON.
for ep in register heartbeat messages; do
	STATUS=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' \
	    --max-time 10 -X POST -H "Authorization: Bearer $K" "$BASE/api/$ep") ||
	    STATUS=000
	BODY=$(cat "$T/body"); HEADERS=$T/headers
	expect_error 411 "POST /api/$ep without Content-Length is a JSON 411"
	check "  ... that says to send Content-Length ($ep)" jq -e '.error | test("Content-Length")' <<<"$BODY"
done
req POST /api/heartbeat '' -H "Authorization: Bearer $K"
expect 200 '. == {"success":true,"online":true}' "the same POST with Content-Length: 0 works"

# HEAD and query strings.
STATUS=$(curl -s -I -o "$T/headers" -w '%{http_code}' --max-time 10 "$BASE/api/agents") || STATUS=000
check "HEAD /api/agents is 200 (got $STATUS)" test "$STATUS" = 200
check "  ... with a JSON content type" grep -qi '^content-type: application/json' "$T/headers"
# Raw, to see that nothing follows the header block.
raw_head() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf 'HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
	timeout 10 cat <&3 >"$T/raw"
	exec 3<&-
	# everything after the first empty line
	awk 'body {print} /^\r?$/ {body = 1}' "$T/raw" >"$T/headbody"
	grep -q '^HTTP/1.1 200' "$T/raw" && [ ! -s "$T/headbody" ]
}
check "  ... and no body (raw HEAD on one connection)" raw_head /api/agents
req GET '/api/agents?foo=bar&limit=1'
expect 200 '.success == true and (.agents | type == "array")' "GET /api/agents ignores a query string"
req GET '/api/agents?x=%00'
expect_error 400 "an encoded NUL in the query string is a JSON 400"
req POST '/api/heartbeat?key=nothing' '' -H "Authorization: Bearer $K"
expect 200 '.online == true' "a query string on a POST route is ignored"
req POST "/api/heartbeat?apiKey=$K"
expect_error 401 "a key in the query string is not accepted"

# Every JSON answer carries nosniff, and no-store but GET /api/agents's,
# which is no-cache: kept, and asked again with its ETag.
req GET /api/messages
expect 200 '.success == true' "GET /api/messages"
check "  ... Cache-Control: no-store" grep -qi '^cache-control: no-store' "$HEADERS"
check "  ... X-Content-Type-Options: nosniff" grep -qi '^x-content-type-options: nosniff' "$HEADERS"
req GET /api/agents
expect 200 '.success == true' "GET /api/agents"
check "  ... Cache-Control: no-cache" grep -qi '^cache-control: no-cache' "$HEADERS"
check "  ... an ETag" grep -qi '^etag: "[0-9a-f]\{16\}"' "$HEADERS"
check "  ... X-Content-Type-Options: nosniff" grep -qi '^x-content-type-options: nosniff' "$HEADERS"

# The static site.
req GET /
check "GET / is 200 (got $STATUS)" test "$STATUS" = 200
check "  ... an HTML page" grep -qi '^content-type: text/html' "$HEADERS"
check "  ... that looks like HTML" grep -qi '<html\|<!doctype html' "$T/body"
req GET /index.html
check "GET /index.html is 200 (got $STATUS)" test "$STATUS" = 200
req GET /skills.md
check "GET /skills.md is 200 (got $STATUS)" test "$STATUS" = 200
check "  ... markdown" grep -qi '^content-type: text/markdown' "$HEADERS"
check "  ... naming this instance's base URL ($BASE)" grep -qF "$BASE" "$T/body"
check "  ... with no template placeholder left" sh -c "! grep -q '@PUBLIC_URL@' '$T/body'"
check "HEAD /skills.md is 200 with no body" raw_head /skills.md

# The instance still answers.
req GET /api/agents
expect 200 '.success == true and .stats.totalAgents == 1' "GET /api/agents after all of it"

# Whatever has died, every /api/ answer is JSON: lighttpd's own errors
# are static files.  A program's socket gone (nothing to take the
# request), the catch-all's included: a JSON 503 with Retry-After.
mv "$T/var/run/agents.sock" "$T/var/run/agents.sock.away"
mv "$T/var/run/notfound.sock" "$T/var/run/notfound.sock.away"
req GET /api/agents
expect_error 503 "with its program unreachable, GET /api/agents is a JSON 503"
check "  ... with a JSON content type" json_ct
check "  ... and Retry-After: 1" test "$(header Retry-After)" = 1
req GET /api/nope
expect_error 503 "with the catch-all unreachable too, an unknown path is a JSON 503"
req GET /api/agents "" -X BREW
check "  ... and lighttpd's 501 is still JSON ($STATUS)" json_ct
mv "$T/var/run/agents.sock.away" "$T/var/run/agents.sock"
mv "$T/var/run/notfound.sock.away" "$T/var/run/notfound.sock"
# (lighttpd rests a backend it could not reach for a second or two)
agents_ok() { req GET /api/agents; [ "$STATUS" = 200 ]; }
wait_for 5 agents_ok
expect 200 '.success == true' "back again, GET /api/agents answers"
