#!/bin/bash
# 96-apache.sh -- the same room under Apache 2.4 (CHATR_FRONT=apache,
# apache-chatr.conf): mod_proxy_fcgi to chatrd's sockets and mod_proxy_http
# to the relay.  Register, post, the stream with its history and a live
# message, resuming, the per-address limits, bad input, and the errors
# Apache makes itself as JSON.  Then one short pass with mod_cgi and no
# chatrd at all: every request runs its program, the stream is the relay
# run as CGI.
. "$(dirname "$0")/lib.sh"
if ! command -v apache2 >/dev/null 2>&1 || ! id www-data >/dev/null 2>&1; then
	skip "apache2 is not installed (tools/build.sh installs it for the tests)"
	exit 0
fi
# Run as root, the instance runs as www-data (Apache will not serve as
# root), which must reach $T.
chmod 711 "$T"
# ... and the sanitizers' suppressions (the tree may be private to root)
if [ -n "${LSAN_OPTIONS:-}" ]; then
	cp "$top_srcdir/test/lsan.supp" "$T/lsan.supp"
	chmod 644 "$T/lsan.supp"
	export LSAN_OPTIONS="suppressions=$T/lsan.supp:print_suppressions=0"
fi

pass() { # FRONT-DESCRIPTION: the checks every front must pass
	local what=$1 K K2 id i codes

	register "apache_$RANDOM"
	K=$KEY
	check "$what: register answers 200 with a key" test -n "$K"
	post "$K" "hello through $what"
	expect 200 '.success == true and .message.agentName != null' \
	    "$what: a post is accepted"
	id=$(printf '%s' "$BODY" | jq -r .message.id)
	req GET "/api/messages?after=0&limit=10"
	expect 200 "[.messages[].id] | index(\"$id\") != null" \
	    "$what: GET /api/messages holds it"

	# The stream: its history, then a live message, unbuffered.
	stream_open s1
	check "$what: a stream opens with a history event holding the post" \
	    stream_wait s1 ".[0].type == \"history\" and ([.[0].data[].id] | index(\"$id\") != null)" 10
	check "$what: the stream is text/event-stream" \
	    grep -qi '^content-type: text/event-stream' "$T/s1.hdr"
	post "$K" "live through $what"
	id=$(printf '%s' "$BODY" | jq -r .message.id)
	check "$what: a live message reaches the stream at once" \
	    stream_wait s1 "map(select(.type == \"message\" and .data.content == \"live through $what\")) | length == 1" 5
	stream_close s1

	# Resuming after the first post: exactly what came after it.
	stream_open s2 -H "Last-Event-ID: $((id - 1))"
	check "$what: a stream resumed with Last-Event-ID gets what followed, once" \
	    stream_wait s2 "[.[] | select(.type == \"history\") | .data[].id] == [\"$id\"] or [.[] | select(.type == \"message\") | .data.id] == [\"$id\"]" 5
	stream_close s2

	# Bad input gets clear JSON errors.
	req POST /api/register '{"name":'
	expect 400 '.success == false and (.error | test("JSON"))' \
	    "$what: malformed JSON is a 400 with a JSON error"
	REQ_CT=application/x-www-form-urlencoded req POST /api/register 'name=x'
	expect 415 '.success == false' "$what: a form post is a 415"
	req POST /api/messages '{"content":"x"}' -H 'Authorization: Bearer chatr_0000'
	expect 401 '.success == false' "$what: a bad key is a 401"
	req POST /api/messages "$(jq -cn --arg c "$(printf 'a\001b\033[31m')" '{content:$c}')" \
	    -H "Authorization: Bearer $K"
	check "$what: control bytes in a message get a JSON answer" \
	    eval '[ "$STATUS" = 200 ] || [ "$STATUS" = 400 ]'
	req GET /api/nothing-here
	expect 404 '.success == false' "$what: an unknown /api/ path is a JSON 404"
	if [ "${HTACCESS:-0}" = 0 ]; then
		req GET "/api/agents?x=$(head -c 9000 /dev/zero | tr '\0' a)"
		check "$what: a request line too long is Apache's 414, as JSON" \
		    eval '[ "$STATUS" = 414 ] && jq -e ".success == false" <<<"$BODY" >/dev/null && grep -qi "^content-type: application/json" "$HEADERS"'
	fi
	# (under .htaccess only the errors Apache makes once it has found the
	# directory are the room's: a body too large, not a request line)
	req POST /api/register "$(head -c 70000 /dev/zero | tr '\0' a)"
	check "$what: a body over 64 KB is Apache's 413, as JSON" \
	    eval '[ "$STATUS" = 413 ] && jq -e ".success == false" <<<"$BODY" >/dev/null && grep -qi "^content-type: application/json" "$HEADERS"'
	req GET /no-such-page.html
	expect 404 '.success == false' "$what: a missing static page is a JSON 404"
	req GET /
	check "$what: the page has its Content-Security-Policy" \
	    grep -qi "^content-security-policy: default-src 'none'" "$HEADERS"
	req GET /skills.md
	check "$what: skills.md is markdown" \
	    eval '[ "$STATUS" = 200 ] && grep -qi "^content-type: text/markdown" "$HEADERS"'

	# MCP (POST /mcp), its program like the API's: the key reaches it.
	req POST /mcp '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
	expect 200 '.id == 1 and .result.serverInfo.name == "chatr"' "$what: POST /mcp answers MCP"
	req POST /mcp '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"chatr_heartbeat"}}' \
	    -H "MCP-Protocol-Version: 2025-11-25" -H "Authorization: Bearer $K"
	expect 200 '.result.structuredContent.online == true' "$what: an MCP tool acts with the agent's Bearer key"

	# The per-address request limit (CHATR_LIMIT_REQUESTS_IP=40/60, 40 a
	# minute): the client's address, as Apache saw it, is limited.
	codes=
	for i in $(seq 1 45); do
		req GET /api/agents
		codes="$codes $STATUS"
	done
	check "$what: the per-address request limit answers 429 with Retry-After" \
	    eval 'case "$codes" in *429*) true ;; *) false ;; esac && [ "$STATUS" = 429 ] && grep -qi "^retry-after:" "$HEADERS"'
}

start_chatr CHATR_FRONT=apache CHATR_LIMIT_REQUESTS_IP=40/60 \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_STATS_INTERVAL=1
check "Apache runs the room (no lighttpd)" \
    eval 'pgrep -f "apache2 -D FOREGROUND -f $T/var/apache.conf" >/dev/null && ! pgrep -f "lighttpd -D -f $T/var/" >/dev/null'
pass "Apache (FastCGI)"
# A route whose program cannot be reached (its socket gone): Apache's own
# 503, as JSON, saying when to retry.
mv "$T/var/run/health.sock" "$T/var/run/health.sock.away"
req GET /api/health
check "Apache (FastCGI): a route with no program behind it is a JSON 503 with Retry-After" \
    eval '[ "$STATUS" = 503 ] && jq -e ".success == false" <<<"$BODY" >/dev/null && grep -qi "^retry-after: [0-9]" "$HEADERS" && grep -qi "^content-type: application/json" "$HEADERS"'
mv "$T/var/run/health.sock.away" "$T/var/run/health.sock"
req GET /api/health
expect 200 '.success == true' "Apache (FastCGI): the route answers again once its socket is back"
# A stream's spectator leaves: the relay lets the stream go.
stop_chatr

start_chatr CHATR_VAR="$T/var-cgi" CHATR_FRONT=apache CHATR_APACHE_CGI=1 CHATR_LIMIT_REQUESTS_IP=40/60 \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_STATS_INTERVAL=1
check "CGI only: no chatrd runs" \
    eval '! pgrep -f "chatrd -c $T/var/chatr.conf" >/dev/null'
pass "Apache (CGI)"
# Each stream is a process of its own, and ends once its spectator left.
before=$(pgrep -f "sse-relay/chatr-sse-relay\$" | sort)
stream_open s3
stream_wait s3 'length >= 1' 5 >/dev/null
mine=$(comm -13 <(printf '%s\n' "$before") <(pgrep -f "sse-relay/chatr-sse-relay\$" | sort) | head -n 1)
check "CGI only: a stream is a chatr-sse-relay process" test -n "$mine"
stream_close s3
# (a keep-alive every 15 s finds the spectator gone: within 30 s, and a
# busy machine's margin)
check "CGI only: it ends once its spectator left" \
    wait_for 60 eval '! kill -0 "$mine" 2>/dev/null'
stop_chatr

# Shared hosting as it is: a plain Apache site that lets a directory bring
# its own configuration (AllowOverride All), and the room in /chatr, laid
# out by chatr-www -C with its two .htaccess files.
start_chatr CHATR_VAR="$T/var-ht" CHATR_FRONT=apache CHATR_APACHE_CGI=htaccess CHATR_LIMIT_REQUESTS_IP=40/60 \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_STATS_INTERVAL=1
check ".htaccess: the server's config names nothing of chatr's" \
    eval '! grep -qE "^[[:space:]]*(Include|Define|ScriptAlias|CGIPassAuth|SetEnv|Header|ErrorDocument)[[:space:]]" "$T/var-ht/apache.conf" && grep -q "AllowOverride All" "$T/var-ht/apache.conf"'
room=$T/var-ht/htdocs/chatr
check ".htaccess: the programs sit at their routes, and no other program" \
    eval '[ -x "$room/api/register" ] && [ -x "$room/api/verify/complete" ] && [ -x "$room/api/stream" ] && [ -x "$room/metrics" ] && [ -x "$room/mcp" ] && [ ! -e "$room/api/repl" ] && [ ! -e "$room/api/notfound" ]'
BASE="$BASE/chatr"
HTACCESS=1 pass "Apache (.htaccess)"
req GET /skills.md
check ".htaccess: skills.md gives the room's URL, in its directory" \
    grep -q "^base_url: $BASE\$" <<<"$BODY"
req GET /.htaccess
expect 403 '.success == false' ".htaccess: the .htaccess is not served (a JSON 403)"
req GET /api/verify
expect 403 '.success == false' ".htaccess: a directory of the API is a JSON 403, not a redirect"
req GET /metrics
check ".htaccess: /metrics is the program's" \
    eval '[ "$STATUS" = 200 ] && grep -q "^chatr_requests_total" <<<"$BODY"'
stop_chatr
