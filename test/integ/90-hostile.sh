#!/bin/bash
# 90-hostile.sh -- hostile clients: oversized headers, control characters
# and JSON injection in names and avatars, a body of exactly 16384 bytes,
# lying and broken Content-Length, slow clients that send half a request
# (headers or body) and stop, 200 random binary bodies, deeply nested
# JSON, duplicate keys, garbage on the socket.  Every answer is a clean
# JSON 4xx (never a 5xx, never a hang) and the instance keeps serving
# everyone else; no program dies.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off

NREG=0 # agents registered so far
register hostile
expect 200 '.success == true' "a normal agent registers"
K=$KEY
NREG=$((NREG + 1))

# raw REQUEST [SECONDS]: send bytes on a new connection, read the answer
# into $T/raw until the server closes it or SECONDS pass.
raw() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf '%b' "$1" >&3
	timeout "${2:-5}" cat <&3 >"$T/raw" 2>/dev/null
	exec 3<&-
	return 0
}
# raw_status: the status of the first answer in $T/raw.
raw_status() {
	head -n1 "$T/raw" | tr -d '\r' | awk '{print $2}'
}
# raw_json: the body of the first answer in $T/raw is a JSON error.
raw_json() {
	tr -d '\r' <"$T/raw" | awk 'b {print} /^$/ && !b {b = 1}' | head -n1 |
	    jq -e '.success == false and (.error | type == "string")' >/dev/null
}

# --- oversized headers -----------------------------------------------------
big=$(head -c 20480 /dev/zero | tr '\0' a)
req POST /api/heartbeat '' -H "Authorization: Bearer $big"
expect_error 431 "a 20 KB Authorization header is a JSON 431"
req GET /api/agents '' -H "X-Junk: $big"
expect_error 431 "a 20 KB custom header is a JSON 431"
hdrs=()
printf -v v60 '%060d' 0
for i in $(seq 1 200); do hdrs+=(-H "X-H$i: $v60"); done
req GET /api/agents '' "${hdrs[@]}"
expect_error 431 "200 headers of 60 bytes are a JSON 431"
req POST /api/heartbeat '' -H "Authorization: Bearer $K$(head -c 4000 /dev/zero | tr '\0' ' ')x"
expect_error 401 "a 4 KB Authorization header (within lighttpd's limit) is a JSON 401"
long_uri=/api/agents?$(head -c 20000 /dev/zero | tr '\0' q)
req GET "$long_uri"
check "a 20 KB query string is refused (status $STATUS)" sh -c "[ '$STATUS' = 414 ] || [ '$STATUS' = 431 ] || [ '$STATUS' = 400 ]"
expect "$STATUS" '.success == false and (.error | type == "string")' "  ... with a JSON error"

# --- names and avatars -----------------------------------------------------
for body in '{"name":"a\"b"}' '{"name":"\u0000"}' '{"name":"ab\u0000"}' \
    '{"name":"a\nb"}' '{"name":"ab\r\n"}' '{"name":"a\\b"}' '{"name":"\u001b[31mred"}' \
    '{"name":"x\",\"admin\":true,\"y\":\""}' '{"name":"ab\"}, {\"name\":\"cd"}' \
    '{"name":"ab\u202ecd"}' '{"name":"ｆｕｌｌ"}' '{"name":"ab\ud800"}' \
    '{"name":"<img src=x>"}' '{"name":"ab cd"}' '{"name":" ab"}' '{"name":"ab\t"}' \
    '{"name":["ab"]}' '{"name":{"x":"ab"}}' '{"name":true}' '{"name":null}' \
    '{"name":"ab","avatar":{"x":1}}' '{"name":"ab","avatar":["x"]}'; do
	req POST /api/register "$body"
	expect_error 400 "register $body is a JSON 400"
done
printf '{"name":"ab\0cd"}' >"$T/payload"
req POST /api/register -
expect_error 400 "a raw NUL byte in the body is a JSON 400"
printf '{"name":"\xc0\xafab"}' >"$T/payload"
req POST /api/register -
expect_error 400 "an overlong UTF-8 sequence is a JSON 400"
printf '\xef\xbb\xbf{"name":"bommed"}' >"$T/payload"
req POST /api/register -
check "a byte-order mark before the JSON is answered cleanly (status $STATUS)" sh -c "[ '$STATUS' = 200 ] || [ '$STATUS' = 400 ]"
expect "$STATUS" '(.success == true) or (.success == false and (.error | type == "string"))' "  ... as JSON"
[ "$STATUS" = 200 ] && NREG=$((NREG + 1))
req GET /api/agents
expect 200 ".stats.totalAgents == $NREG" "none of the hostile names was stored"

# An avatar may hold anything printable: it comes back intact.
for av in '"},{"id":"x' '</script><script>alert(1)</script>' 'back\slash' "$(printf 'tab\there')" \
    '🦞‍🔥' '\u0041'; do
	n=av$NREG
	req POST /api/register "$(jq -cn --arg n "$n" --arg a "$av" '{name: $n, avatar: $a}')"
	expect 200 ".success == true and .agent.name == \"$n\"" "avatar $(printf '%q' "$av" | head -c 40) is accepted"
	NREG=$((NREG + 1))
	req POST /api/heartbeat '' -H "Authorization: Bearer $(jq -r .agent.apiKey <<<"$BODY")"
	req GET /api/agents
	expect 200 "any(.agents[]; .name == \"$n\" and .avatar == $(jq -n --arg a "$av" '$a'))" \
	    "  ... and GET /api/agents shows it exactly as sent"
done

# Bidirectional controls: refused in avatars, removed from content.
req POST /api/register "$(printf '{"name":"bidi1","avatar":"a\xe2\x80\xaeb"}')"
expect_error 400 "an avatar with a right-to-left override is refused"
check "  ... saying why" jq -e '.error | test("bidirectional")' <<<"$BODY"
req POST /api/register '{"name":"bidi2","avatar":"x\u2066y"}'
expect_error 400 "an avatar with an isolate (as a JSON escape) is refused"

# JSON escapes are JSON: \u0061 is an a.
req POST /api/register '{"name":"\u0065scaped"}'
expect 200 '.success == true and .agent.name == "escaped"' "a name written with \\u escapes is the name they spell"
NREG=$((NREG + 1))

# --- bodies at and over the size limit ------------------------------------------
pad=$((16384 - $(printf '{"name":"exact16k","avatar":"x","pad":""}' | wc -c)))
printf '{"name":"exact16k","avatar":"x","pad":"%s"}' "$(head -c $pad /dev/zero | tr '\0' p)" >"$T/payload"
check "the payload is exactly 16384 bytes" test "$(wc -c <"$T/payload")" = 16384
req POST /api/register -
expect 200 '.success == true and .agent.name == "exact16k"' "a valid 16384-byte JSON body is accepted"
NREG=$((NREG + 1))
{ printf '{"name":"ws16k"}'; head -c $((16384 - 16)) /dev/zero | tr '\0' ' '; } >"$T/payload"
check "the white-space payload is exactly 16384 bytes" test "$(wc -c <"$T/payload")" = 16384
req POST /api/register -
expect 200 '.success == true and .agent.name == "ws16k"' "16384 bytes of JSON and trailing white space are accepted"
NREG=$((NREG + 1))
printf ' ' >>"$T/payload"
req POST /api/register -
expect_error 413 "16385 bytes are a JSON 413"
sed -i 's/ws16k/ws16l/' "$T/payload"
req POST /api/register - -H 'Expect: 100-continue'
expect_error 413 "16385 bytes with Expect: 100-continue are a JSON 413"
head -c 300000 /dev/zero | tr '\0' '[' >"$T/payload"
req POST /api/register -
expect_error 413 "a 300 KB body is a JSON 413"

# --- Content-Length that lies ---------------------------------------------------
start=$(date +%s)
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 4 -H 'Content-Type: application/json' \
    -H 'Content-Length: 100' --data-binary '{"name":"liar"}' "$BASE/api/register") || :
end=$(date +%s)
check "Content-Length larger than the body: the client is not held past its own timeout ($((end - start)) s, status $STATUS)" \
    test $((end - start)) -le 6
req GET /api/agents
expect 200 '.success == true' "the instance answers after the lying client gave up"
raw 'POST /api/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"name":"short"}'
check "Content-Length smaller than the body: 400 for the cut body (got $(raw_status))" test "$(raw_status)" = 400
check "  ... as JSON" raw_json
for cl in -1 abc 1e3 99999999999999999999999 ' 5' '5, 5'; do
	raw "POST /api/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: $cl\r\nConnection: close\r\n\r\n{\"name\":\"badcl\"}"
	s=$(raw_status)
	check "Content-Length '$cl' is refused with a 4xx (got $s)" sh -c "[ -n '$s' ] && [ '$s' -ge 400 ] && [ '$s' -lt 500 ]"
	check "  ... as JSON ('$cl')" raw_json
done
raw 'POST /api/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n{"name":"smugl"}\r\n0\r\n\r\n'
s=$(raw_status)
check "Content-Length with Transfer-Encoding is a 4xx or handled once (got $s)" sh -c "[ '$s' = 400 ] || [ '$s' = 200 ]"
[ "$s" = 200 ] && NREG=$((NREG + 1))
check "  ... as JSON" sh -c "tr -d '\r' <'$T/raw' | awk 'b {print} /^\$/ && !b {b = 1}' | head -n1 | jq -e '.success | type == \"boolean\"'"
raw 'GET /api/agents HTTP/1.1\r\nHost: x\r\n\r\nGET /api/agents HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
check "two pipelined requests get two answers" test "$(grep -c '^HTTP/1.1 200' "$T/raw")" = 2

# --- slow clients ---------------------------------------------------------------
# hold DATA: open a connection, send DATA, keep it open (until killed).
HOLD=()
hold() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
		printf '%b' "$1" >&3
		exec sleep 60
	) &
	HOLD+=($!)
}
release() {
	[ ${#HOLD[@]} -gt 0 ] && kill "${HOLD[@]}" 2>/dev/null
	[ ${#HOLD[@]} -gt 0 ] && wait "${HOLD[@]}" 2>/dev/null
	HOLD=()
}
for i in $(seq 1 20); do
	hold 'GET /api/agents HTTP/1.1\r\nHost: x\r\nX-Slow: '
done
sleep 0.5
req GET /api/agents '' --max-time 5
expect 200 '.success == true' "20 clients stuck in their headers: GET /api/agents still answers"
register slowok1 --max-time 5
expect 200 '.success == true' "  ... and a registration goes through"
NREG=$((NREG + 1))
release

# Half a body: the request reaches a FastCGI program, which waits for the
# rest.  Four such clients (two programs per endpoint) must not stop others.
for i in 1 2 3 4; do
	hold 'POST /api/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":"sl'
done
sleep 0.5
req GET /api/agents '' --max-time 5
expect 200 '.success == true' "4 clients stuck in their bodies: GET /api/agents still answers"
register slowok2 --max-time 5
expect 200 '.success == true' "4 clients stuck in their bodies to /api/register: another registration still answers within 5 s"
release
sleep 0.5
# slowok2 may have been stored after its client gave up.
req POST /api/register '{"name":"slowok2"}' --max-time 10
[ "$STATUS" = 409 ] || [ "$STATUS" = 200 ] && NREG=$((NREG + 1))
register slowok3 --max-time 10
expect 200 '.success == true' "once the slow clients are gone, registrations work"
NREG=$((NREG + 1))

# --- random binary bodies -------------------------------------------------------
# fuzz PATH N MAXLEN [CURL-ARGS...]: N random bodies; answers in $T/fz.
fuzz() {
	local p=$1 n=$2 max=$3 i
	shift 3
	rm -rf "$T/fz"
	mkdir -p "$T/fz"
	for i in $(seq 1 "$n"); do
		head -c $((RANDOM % max + 1)) /dev/urandom >"$T/payload"
		curl -s -o "$T/fz/$i.body" -w '%{http_code}\n' --max-time 10 \
		    -H 'Content-Type: application/json' --data-binary "@$T/payload" \
		    "$@" "$BASE$p" >>"$T/fz/status" 2>/dev/null || echo 000 >>"$T/fz/status"
	done
}
# fuzz_ok N: every answer a 400 or 413 whose body is a JSON error.
fuzz_ok() {
	local bad
	bad=$(grep -cvxE '400|413' "$T/fz/status")
	[ "$bad" = 0 ] || { sort "$T/fz/status" | uniq -c; return 1; }
	[ "$(wc -l <"$T/fz/status")" = "$1" ] || return 1
	cat "$T"/fz/*.body | jq -se --argjson n "$1" 'length == $n and all(.[]; .success == false and (.error | type == "string" and length > 0) and (keys - ["success","error"] | length == 0))'
}
fuzz /api/register 200 3000
check "200 random binary bodies to POST /api/register: every answer a JSON 400 or 413" fuzz_ok 200
fuzz /api/messages 30 1000 -H "Authorization: Bearer $K"
check "30 random binary bodies to POST /api/messages: every answer a JSON 400 or 413" fuzz_ok 30
req GET /api/agents
expect 200 ".stats.totalAgents == $NREG and .stats.totalMessages == 0" "the random bodies stored nothing"

# Garbage instead of HTTP, then hang up.
for i in 1 2 3 4 5; do
	exec 3<>"/dev/tcp/127.0.0.1/$PORT"
	head -c 2000 /dev/urandom >&3 2>/dev/null
	exec 3<&-
done
raw 'GARBAGE\x01\x02 / HTTP/9.9\r\n\r\n' 3
check "a garbage request line is refused with a 4xx or 5xx status line (got $(raw_status))" sh -c "[ -n '$(raw_status)' ] && [ '$(raw_status)' -ge 400 ]"
req GET /api/agents
expect 200 '.success == true' "binary garbage on the socket: the instance still answers"

# --- JSON structure -------------------------------------------------------------
printf '{"name":"deep","x":%s1%s}' "$(head -c 5000 /dev/zero | tr '\0' '[')" "$(head -c 5000 /dev/zero | tr '\0' ']')" >"$T/payload"
req POST /api/register -
expect_error 400 "5000 nested arrays are a JSON 400"
{ for i in $(seq 1 2500); do printf '{"a":'; done; printf '1'; head -c 2500 /dev/zero | tr '\0' '}'; } >"$T/payload"
req POST /api/register -
expect_error 400 "2500 nested objects are a JSON 400"
check "  ... that says it is nested too deeply" jq -e '.error | test("deep")' <<<"$BODY"
head -c 16000 /dev/zero | tr '\0' '{' >"$T/payload"
req POST /api/register -
expect_error 400 "16000 unclosed braces are a JSON 400"
printf '{"name":"deep8","x":[[[[[[1]]]]]]}' >"$T/payload"
req POST /api/register -
check "moderate nesting in an ignored field is answered cleanly (status $STATUS)" sh -c "[ '$STATUS' = 200 ] || [ '$STATUS' = 400 ]"
expect "$STATUS" '.success | type == "boolean"' "  ... as JSON"
[ "$STATUS" = 200 ] && NREG=$((NREG + 1))
{ printf '{'; for i in $(seq 1 1000); do printf '"k%d":%d,' "$i" "$i"; done; printf '"name":"manyfields"}'; } >"$T/payload"
req POST /api/register -
expect 200 '.success == true and .agent.name == "manyfields"' "1000 extra fields are ignored"
NREG=$((NREG + 1))
for body in null true 123 '"string"' '[]' '[{"name":"inarray"}]' '{"name":"n1"}{"name":"n2"}' \
    '{"name":"num","avatar":1e999999}' '{"name":"ab",}' '{name:"ab"}' '{"name":"ab"' \
    '{"name" "ab"}' '{"name":"ab"}}' '{"name":"ab","avatar":"x" /* c */}' '{"name":NaN}'; do
	req POST /api/register "$body"
	expect_error 400 "body $body is a JSON 400"
done

# Duplicate keys: a body that says two things is refused, nothing stored.
req POST /api/register '{"name":"dupfirst","name":"dupsecond"}'
expect_error 400 "a member name given twice is refused"
expect 400 '.error | test("twice")' "  ... saying why"
req POST /api/register '{"name":"dupfirst","n\u0061me":"dupsecond"}'
expect_error 400 "  ... also when the second is spelt with an escape"
req POST /api/register '{"name":"dupnested","x":{"a":1,"b":[{"c":1,"c":2}]}}'
expect_error 400 "  ... also deep inside the object"
req POST /api/register '{"name":"dupfirst"}'
expect 200 '.success == true and .agent.name == "dupfirst"' "  ... and nothing of it was stored: the name is free"
NREG=$((NREG + 1))
req POST /api/messages '{"content":"one","content":"two"}' -H "Authorization: Bearer $K"
expect_error 400 "duplicate content keys are refused"
NMSG=0

# Only application/json: a form on any web page (urlencoded, multipart or
# text/plain, which can carry JSON-looking text) registers no one.
REQ_CT=text/plain req POST /api/register '{"name":"formplain"}'
expect_error 415 "a JSON body sent as text/plain is refused"
expect 415 '.error | test("application/json")' "  ... saying what to send"
REQ_CT=application/x-www-form-urlencoded req POST /api/register 'name=formurl'
expect_error 415 "a form-encoded body is refused"
REQ_CT= req POST /api/register '{"name":"formnone"}'
expect_error 415 "a body with no Content-Type is refused"
REQ_CT=text/plain req POST /api/messages '{"content":"plain"}' \
    -H "Authorization: Bearer $K"
expect_error 415 "a message sent as text/plain is refused"
REQ_CT='Application/JSON ; charset=utf-8' req POST /api/register '{"name":"formplain"}'
expect 200 '.success == true and .agent.name == "formplain"' \
    "application/json in any case, with parameters, is JSON (and the name was free)"
NREG=$((NREG + 1))
req POST /api/heartbeat '' -H "Authorization: Bearer $K" -H 'Content-Type: text/plain'
expect 200 '.success == true' "an empty body needs no Content-Type"

# --- afterwards -----------------------------------------------------------------
req GET /api/agents
expect 200 ".success == true and .stats.totalAgents == $NREG and .stats.totalMessages == $NMSG" \
    "after all of it GET /api/agents answers, with the right counts"
req POST /api/heartbeat '' -H "Authorization: Bearer $K"
expect 200 '. == {"success":true,"online":true}' "  ... and the first agent's key still works"
check "no FastCGI program died" sh -c "! grep -E 'chatrd.*(was killed|exited with)' '$T/var/log/chatr.log'"
check "no fatal error in chatr.log" sh -c "! grep -Ei 'fatal|panic|abort' '$T/var/log/chatr.log'"
