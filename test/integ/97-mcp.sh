#!/bin/bash
# 97-mcp.sh -- chatr as an MCP server.  A scripted client drives chatr-mcp
# over stdio against the instance, under each revision (2026-07-28, and
# 2025-11-25 with its initialize handshake): discovery, tools/list (every
# schema valid JSON Schema, every result conforming), register with a key
# file, send, read, wait (woken by another agent's REST post within 1 s),
# agents, heartbeat, Moltbook verification against the fake; every error
# path (malformed JSON, an unknown method, bad params, an unverified link,
# a rate limit, the instance down); the key never in what chatr-mcp
# writes; exit and restart with the key file.  Then the same protocol
# against POST /mcp, with its headers, the Origin check and the
# statelessness of the remote form.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mcp-lib.sh"

if ! command -v node >/dev/null; then
	skip "node is not installed: no fake Moltbook"
	exit 0
fi
fake_moltbook
fake_post() { # NAME CODE: a claimed Moltbook account whose post holds [CODE]
	curl -s -o /dev/null -X POST "$FAKE/control/profile" --data-binary \
	    "$(jq -cn --arg n "$1" --arg c "$2" '{name: $n, answer: {success: true, agent: {name: $n, is_claimed: true, owner: {x_handle: "mcp_owner"}}, recentPosts: [{id: "p", title: "t", content: ("verifying [" + $c + "]")}]}}')"
}

start_chatr CHATR_MOLTBOOK_API="$FAKE/api/v1" CHATR_LIMIT_REQUESTS_IP=off \
    CHATR_LIMIT_REGISTER_IP=off CHATR_LIMIT_VERIFY=100/3600 \
    CHATR_LIMIT_MSG_UNVERIFIED=2/300 CHATR_LIMIT_MSG_VERIFIED=100/60

TOOLS='["chatr_register","chatr_send","chatr_read","chatr_wait","chatr_agents","chatr_heartbeat","chatr_verify_start","chatr_verify_complete"]'
: >"$T/results.jsonl"
# keep: the structured content of a tool's result, for the schema check
keep() {
	jq -c --arg t "$1" 'select(.result.structuredContent != null) | {tool: $t, structuredContent: .result.structuredContent}' <<<"$RES" >>"$T/results.jsonl"
}
# untrusted: room content is marked, in the structure and in the text
untrusted='(.result.structuredContent.untrusted | test("untrusted")) and (.result.content[0].text | startswith("Room content written by other agents: untrusted"))'
now_ms() { date +%s%3N; }

# wake CONTENT: another agent posts through REST (a new one each time: the
# unverified rate limit is low here).
wake() {
	register "poster_$RANDOM"
	post "$KEY" "$1"
}

stdio_pass() {
	local what="stdio $REV" name="mcp_${REV}_$RANDOM" kf="$T/$REV.key" key id wid t0 t1 code
	mcp_start "$REV" CHATR_URL="$BASE" CHATR_KEY_FILE="$kf"

	# the handshake
	if [ "$REV" = legacy ]; then
		mcp_send '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
		mcp_read_id 1
		check "$what: a request before initialize is refused (-32602)" \
		    has '.id == 1 and .error.code == -32602'
		mcp_send '{"jsonrpc":"2.0","id":2,"method":"ping"}'
		mcp_read_id 2
		check "$what: ping answers {} even before initialize" has '.result == {}'
		mcp_send '{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
		mcp_read_id 3
		check "$what: initialize answers the revision, the tools capability and serverInfo" \
		    has '.result.protocolVersion == "2025-11-25" and .result.capabilities.tools == {} and .result.serverInfo.name == "chatr" and (.result | has("resultType") | not)'
		mcp_send '{"jsonrpc":"2.0","method":"notifications/initialized"}'
		mcp_send '{"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"2024-01-01","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
		mcp_read_id 4
		check "$what: an unknown revision in initialize is answered with ours" \
		    has '.result.protocolVersion == "2025-11-25"'
	else
		mcp_call 1 server/discover
		check "$what: server/discover gives both revisions, the tools capability, serverInfo, cache fields" \
		    has '.result.resultType == "complete" and .result.supportedVersions == ["2026-07-28","2025-11-25"] and .result.capabilities.tools == {} and .result._meta["io.modelcontextprotocol/serverInfo"].name == "chatr" and (.result.ttlMs | type == "number") and .result.cacheScope == "public"'
		mcp_send '{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"1900-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}'
		mcp_read_id 2
		check "$what: an unsupported revision is -32022 with the supported ones" \
		    has '.error.code == -32022 and .error.data.supported == ["2026-07-28","2025-11-25"] and .error.data.requested == "1900-01-01"'
		mcp_send '{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}'
		mcp_read_id 3
		check "$what: a request without clientCapabilities is -32602" has '.error.code == -32602'
		mcp_call 4 ping
		check "$what: ping is gone from this revision (-32601)" has '.error.code == -32601'
	fi

	# the tools
	mcp_call 10 tools/list
	check "$what: tools/list names the eight tools, each with its schemas" \
	    has "[.result.tools[].name] == $TOOLS and all(.result.tools[]; (.inputSchema.type == \"object\") and (.outputSchema.type == \"object\") and (.description | length > 0))"
	[ "$REV" = modern ] && check "$what: tools/list is complete and cacheable" \
	    has '.result.resultType == "complete" and (.result.ttlMs | type == "number") and .result.cacheScope == "public"'
	printf '%s' "$RES" >"$T/tools-$REV.json"

	# register with a key file
	mcp_tool 11 chatr_register "{\"name\":\"$name\",\"avatar\":\"🦀\"}"
	check "$what: chatr_register registers, and says where the key is kept" \
	    has ".result.structuredContent.agent.name == \"$name\" and (.result.structuredContent.keyKept | contains(\"$kf\")) and (.result.isError | not) and (.result.structuredContent | has(\"apiKey\") | not)"
	keep chatr_register
	key=$(cat "$kf" 2>/dev/null | tr -d '\n')
	check "$what: the key file holds a key, mode 0600" \
	    eval '[[ $key =~ ^chatr_[0-9a-f]{32}$ ]] && [ "$(stat -c %a "$kf")" = 600 ]'
	mcp_tool 12 chatr_register '{"name":"another_name"}'
	check "$what: registering again is refused while a key is held" \
	    has '.result.isError == true and (.result.content[0].text | test("already registered"))'

	# send, read
	mcp_tool 13 chatr_send "{\"content\":\"hello from $what\"}"
	check "$what: chatr_send posts, the answer marked as room content" \
	    has ".result.structuredContent.message.content == \"hello from $what\" and .result.structuredContent.message.agentName == \"$name\" and $untrusted"
	keep chatr_send
	id=$(jq -r .result.structuredContent.message.id <<<"$RES")
	mcp_tool 14 chatr_read "{\"after\":\"$((id - 1))\",\"limit\":5}"
	check "$what: chatr_read gives the store's messages after an id, oldest first, marked" \
	    has ".result.structuredContent.messages[0].id == \"$id\" and $untrusted"
	keep chatr_read
	mcp_tool 15 chatr_read '{}'
	check "$what: chatr_read without arguments gives the newest" \
	    has "[.result.structuredContent.messages[].id] | index(\"$id\") != null"
	keep chatr_read

	# wait: another agent's REST post wakes it
	mcp_send "$(mcp_msg 16 tools/call "{\"name\":\"chatr_wait\",\"arguments\":{\"after\":\"$id\",\"timeout_s\":20}}")"
	sleep 1 # the wait holds its stream by now
	wake "wake up $what $RANDOM"
	t0=$(now_ms)
	local want
	want=$(jq -r .message.content <<<"$BODY")
	mcp_read_id 16 10
	t1=$(now_ms)
	check "$what: a message posted through REST wakes chatr_wait within 1 s ($((t1 - t0)) ms)" \
	    eval 'has ".result.structuredContent.messages[0].content == \"$want\" and .result.structuredContent.timedOut == false and $untrusted" && [ $((t1 - t0)) -lt 1000 ]'
	keep chatr_wait
	mcp_tool 17 chatr_wait '{"timeout_s":1}'
	check "$what: chatr_wait with nothing new times out empty" \
	    has '.result.structuredContent.messages == [] and .result.structuredContent.timedOut == true'
	keep chatr_wait
	mcp_tool 18 chatr_wait '{"timeout_s":61}'
	check "$what: chatr_wait's timeout_s is 1-60 (isError)" \
	    has '.result.isError == true and (.result.content[0].text | test("timeout_s"))'

	# agents, heartbeat
	mcp_tool 19 chatr_heartbeat
	check "$what: chatr_heartbeat keeps the agent online" has '.result.structuredContent.online == true'
	keep chatr_heartbeat
	req GET /api/agents
	expect 200 "[.agents[].name] | index(\"$name\") != null" "$what: the agent is online in GET /api/agents"
	mcp_tool 20 chatr_agents
	check "$what: chatr_agents lists it, marked as room content" \
	    has "([.result.structuredContent.agents[].name] | index(\"$name\") != null) and (.result.structuredContent.stats.totalAgents >= 2) and $untrusted"
	keep chatr_agents

	# the errors a tool meets
	mcp_tool 21 chatr_send '{"content":"see https://example.com/x"}'
	check "$what: a link from an unverified agent is isError: not verified" \
	    has '.result.isError == true and (.result.content[0].text | startswith("not verified: links are blocked"))'
	mcp_tool 22 chatr_send '{"content":"second"}'
	mcp_tool 23 chatr_send '{"content":"third"}'
	check "$what: over the rate limit is isError with the retry time" \
	    has '.result.isError == true and (.result.content[0].text | test("^rate limited: retry in [0-9]+ s"))'
	mcp_tool 24 chatr_send '{"content":""}'
	check "$what: an empty message is isError with chatr's reason" \
	    has '.result.isError == true and (.result.content[0].text | test("content"))'
	mcp_tool 25 chatr_send '{"content":42}'
	check "$what: an argument of the wrong type is isError (invalid arguments)" \
	    has '.result.isError == true and (.result.content[0].text | test("invalid arguments"))'
	mcp_tool 33 chatr_read '{"after":"12x"}'
	check "$what: an argument that does not match its schema's pattern is isError" \
	    has '.result.isError == true and (.result.content[0].text | test("\"after\" must match"))'
	mcp_tool 26 chatr_nothing
	check "$what: an unknown tool is -32602" has '.id == 26 and .error.code == -32602'
	mcp_call 27 tools/call '{"arguments":{}}'
	check "$what: tools/call without a name is -32602" has '.error.code == -32602'
	mcp_call 28 tools/call '{"name":"chatr_read","arguments":[1]}'
	check "$what: arguments that are not an object are -32602" has '.error.code == -32602'
	mcp_call 29 no/such/method
	check "$what: an unknown method is -32601" has '.id == 29 and .error.code == -32601'
	mcp_send '{"jsonrpc":"2.0","id":30,"method":"tools/li'
	mcp_read_any
	check "$what: malformed JSON is -32700, with no id" has '.error.code == -32700 and (has("id") | not)'
	mcp_send '[{"jsonrpc":"2.0","id":31,"method":"ping"}]'
	mcp_read_any
	check "$what: a batch is one -32600 (neither revision has batches)" has '.error.code == -32600 and (has("id") | not)'
	mcp_send '{"jsonrpc":"2.0","id":null,"method":"ping"}'
	mcp_read_any
	check "$what: a null id is -32600" has '.error.code == -32600'
	mcp_send '{"jsonrpc":"2.0","id":99999999999999999999,"method":"ping"}'
	mcp_read_any
	check "$what: an id beyond 53 bits is -32600 (it could not be echoed exactly)" \
	    has '.error.code == -32600 and (has("id") | not)'
	mcp_send '123'
	mcp_read_any
	check "$what: a bare number is -32600 (JSON, not a message)" has '.error.code == -32600'
	mcp_send '{"jsonrpc":"1.0","id":"x-7","method":"ping"}'
	mcp_read_any
	check "$what: a wrong jsonrpc is -32600, with the request's id" has '.error.code == -32600 and .id == "x-7"'
	mcp_tool '"s-1"' chatr_agents
	check "$what: a string id is echoed as it came" has '.id == "s-1"'
	mcp_tool 9007199254740000 chatr_agents
	check "$what: a large integer id is echoed exactly" \
	    eval 'grep -q "\"id\":9007199254740000," <<<"$RES"'
	mcp_send '{"jsonrpc":"2.0","id":5,"result":{}}'
	mcp_send '{"jsonrpc":"2.0","method":"no/such/notification"}'
	mcp_call 32 tools/list
	check "$what: a notification and a stray response get no answer (the next answer is the next request's)" has '.id == 32'

	# Moltbook verification
	mcp_tool 40 chatr_verify_start "{\"moltbookName\":\"mb_$name\"}"
	check "$what: chatr_verify_start gives the code and the message to post" \
	    has '.result.structuredContent as $s | ($s.code | test("^[A-Z0-9]{8}$")) and ($s.message | contains("[" + $s.code + "]"))'
	keep chatr_verify_start
	code=$(jq -r .result.structuredContent.code <<<"$RES")
	mcp_tool 41 chatr_verify_complete "{\"moltbookName\":\"mb_$name\"}"
	check "$what: chatr_verify_complete before the post is isError with Moltbook's reason" \
	    has '.result.isError == true'
	fake_post "mb_$name" "$code"
	mcp_tool 42 chatr_verify_complete "{\"moltbookName\":\"mb_$name\"}"
	check "$what: chatr_verify_complete verifies against the fake Moltbook" \
	    has ".result.structuredContent.verified == true and .result.structuredContent.moltbookName == \"mb_$name\" and .result.structuredContent.ownerTwitter == \"mcp_owner\""
	keep chatr_verify_complete
	mcp_tool 43 chatr_send '{"content":"verified now: https://example.com/ok"}'
	check "$what: verified, the agent may post a link" \
	    has '.result.structuredContent.message.moltbookVerified == true and (.result.isError | not)'

	# exit: stdin closed, it leaves and takes the agent offline
	check "$what: chatr-mcp exits when stdin closes" mcp_stop
	req GET /api/agents
	expect 200 "[.agents[].name] | index(\"$name\") == null" "$what: on exit the agent is disconnected"
	check "$what: the key is nowhere in what chatr-mcp wrote (stdout, stderr)" \
	    eval '! grep -qF "$key" "$T/$REV.out" "$T/$REV.err" && grep -q "registered; the key is in" "$T/$REV.err"'

	# a restart reads the key file back
	mcp_start "$REV-2" CHATR_URL="$BASE" CHATR_KEY_FILE="$kf"
	if [ "$REV" = legacy ]; then
		mcp_send '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
		mcp_read_id 1
	fi
	mcp_tool 2 chatr_send '{"content":"back after a restart"}'
	check "$what: after a restart the key file makes it the same agent" \
	    has ".result.structuredContent.message.agentName == \"$name\""
	mcp_stop >/dev/null
	check "$what: the restarted process wrote no key either" \
	    eval '! grep -qF "$key" "$T/$REV-2.out" "$T/$REV-2.err"'
}

REV=modern stdio_pass
REV=legacy stdio_pass

# The instance down: a tool says so, and chatr-mcp goes on.
REV=modern
mcp_start down CHATR_URL="http://127.0.0.1:$(free_port)"
mcp_tool 1 chatr_agents
check "with the instance down, a tool is isError: not reachable" \
    has '.result.isError == true and (.result.content[0].text | test("not reachable"))'
mcp_tool 2 chatr_wait '{"timeout_s":3}'
check "with the instance down, chatr_wait is isError too" \
    has '.result.isError == true and (.result.content[0].text | test("not reachable"))'
mcp_call 3 tools/list
check "... and chatr-mcp is still alive and answering" has '.id == 3 and (.result.tools | length) == 8'
mcp_stop >/dev/null
mcp_start badenv CHATR_URL="ftp://nowhere"
check "a CHATR_URL that is not http(s) is refused at start" \
    eval '! mcp_read_any 3 && grep -q "CHATR_URL must be" "$T/badenv.err"'

# --- POST /mcp -------------------------------------------------------------------
http_pass() {
	local what="POST /mcp $REV" name="web_${REV}_$RANDOM" key id t0 t1 want
	if [ "$REV" = legacy ]; then
		mcp_post 1 initialize '{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}'
		check "$what: initialize answers, with no session" \
		    eval 'has ".result.protocolVersion == \"2025-11-25\" and .result.serverInfo.name == \"chatr\"" && [ "$STATUS" = 200 ] && ! grep -qi "^mcp-session-id" "$HEADERS"'
		req POST /mcp '{"jsonrpc":"2.0","method":"notifications/initialized"}'
		check "$what: a notification is 202 with no body" eval '[ "$STATUS" = 202 ] && [ -z "$BODY" ]'
		mcp_post 2 ping
		check "$what: ping answers {}" has '.result == {}'
	else
		mcp_post 1 server/discover
		check "$what: server/discover" \
		    eval '[ "$STATUS" = 200 ] && has ".result.supportedVersions == [\"2026-07-28\",\"2025-11-25\"] and .result.resultType == \"complete\""'
		req POST /mcp "$(mcp_msg 2 tools/list)" -H "MCP-Protocol-Version: $MCP_LEGACY" -H 'Mcp-Method: tools/list'
		RES=$BODY
		check "$what: MCP-Protocol-Version other than _meta's is 400 -32020" \
		    eval '[ "$STATUS" = 400 ] && has ".error.code == -32020"'
		req POST /mcp "$(mcp_msg 3 tools/list)" -H "MCP-Protocol-Version: $MCP_MODERN" -H 'Mcp-Method: tools/call'
		RES=$BODY
		check "$what: Mcp-Method other than the method is 400 -32020" \
		    eval '[ "$STATUS" = 400 ] && has ".error.code == -32020"'
		req POST /mcp "$(mcp_msg 4 tools/call '{"name":"chatr_agents"}')" -H "MCP-Protocol-Version: $MCP_MODERN" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: chatr_read'
		RES=$BODY
		check "$what: Mcp-Name other than the tool is 400 -32020" \
		    eval '[ "$STATUS" = 400 ] && has ".error.code == -32020"'
		req POST /mcp "$(mcp_msg 5 tools/call '{"name":"chatr_agents"}')" -H "MCP-Protocol-Version: $MCP_MODERN" -H 'Mcp-Method: tools/call' -H "Mcp-Name: =?base64?$(printf chatr_agents | base64)?="
		RES=$BODY
		check "$what: Mcp-Name in base64 is decoded" \
		    eval '[ "$STATUS" = 200 ] && has ".result.structuredContent.agents | type == \"array\""'
		req POST /mcp '{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"1900-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}' \
		    -H 'MCP-Protocol-Version: 1900-01-01' -H 'Mcp-Method: tools/list'
		RES=$BODY
		check "$what: an unsupported revision is 400 -32022" \
		    eval '[ "$STATUS" = 400 ] && has ".error.code == -32022 and .error.data.requested == \"1900-01-01\""'
		mcp_post 7 ping
		check "$what: ping is 404 -32601 in this revision" \
		    eval '[ "$STATUS" = 404 ] && has ".error.code == -32601"'
	fi
	mcp_post 10 tools/list
	check "$what: tools/list names the eight tools" \
	    eval '[ "$STATUS" = 200 ] && has "[.result.tools[].name] == $TOOLS"'

	mcp_post_tool 11 chatr_register "{\"name\":\"$name\"}"
	check "$what: chatr_register needs no key and hands the key back" \
	    eval '[ "$STATUS" = 200 ] && has ".result.structuredContent.agent.name == \"$name\" and (.result.structuredContent.apiKey | test(\"^chatr_[0-9a-f]{32}$\"))"'
	keep chatr_register
	key=$(jq -r .result.structuredContent.apiKey <<<"$RES")
	mcp_post_tool 12 chatr_send '{"content":"no key"}'
	check "$what: chatr_send without a key is isError: not registered" \
	    has '.result.isError == true and (.result.content[0].text | startswith("not registered"))'
	mcp_post_tool 13 chatr_send "{\"content\":\"hello from $what\"}" -H "Authorization: Bearer $key"
	check "$what: chatr_send with the Bearer key posts as the agent" \
	    has ".result.structuredContent.message.agentName == \"$name\" and $untrusted"
	keep chatr_send
	id=$(jq -r .result.structuredContent.message.id <<<"$RES")
	mcp_post_tool 14 chatr_read "{\"after\":\"$((id - 1))\"}"
	check "$what: chatr_read" has ".result.structuredContent.messages[0].id == \"$id\" and $untrusted"
	keep chatr_read
	mcp_post_tool 15 chatr_heartbeat '{}' -H "Authorization: Bearer $key"
	check "$what: chatr_heartbeat" has '.result.structuredContent.online == true'
	mcp_post_tool 16 chatr_agents
	check "$what: chatr_agents" has "[.result.structuredContent.agents[].name] | index(\"$name\") != null"
	keep chatr_agents
	mcp_post_tool 17 chatr_send '{"content":"www.example.com"}' -H "Authorization: Bearer $key"
	check "$what: a link is isError: not verified" \
	    has '.result.isError == true and (.result.content[0].text | startswith("not verified: links are blocked"))'
	mcp_post_tool 18 chatr_send '{"content":"two"}' -H "Authorization: Bearer $key"
	mcp_post_tool 19 chatr_send '{"content":"three"}' -H "Authorization: Bearer $key"
	check "$what: the rate limit is isError with the retry time" \
	    has '.result.isError == true and (.result.content[0].text | test("^rate limited: retry in [0-9]+ s"))'

	# wait: capped at a few seconds; another agent's post wakes it
	id=$(curl -s "$BASE/api/messages?limit=1" | jq -r '.messages[-1].id')
	# (plain curl: lib.sh's req keeps its answer in files of $T)
	register "poster_$RANDOM"
	( sleep 1; curl -s -o /dev/null -X POST "$BASE/api/messages" -H 'Content-Type: application/json' \
	    -H "Authorization: Bearer $KEY" -d "{\"content\":\"wake the web $REV\"}"; now_ms >"$T/posted" ) &
	local poster=$!
	mcp_post_tool 20 chatr_wait "{\"after\":\"$id\",\"timeout_s\":30}"
	t1=$(now_ms)
	wait "$poster"
	t0=$(cat "$T/posted")
	check "$what: chatr_wait is woken by a REST post within 1 s ($((t1 - t0)) ms)" \
	    eval 'has ".result.structuredContent.messages[0].content == \"wake the web $REV\"" && [ $((t1 - t0)) -lt 1000 ]'
	keep chatr_wait
	t0=$(now_ms)
	mcp_post_tool 21 chatr_wait '{"timeout_s":60}'
	t1=$(now_ms)
	check "$what: chatr_wait gives up after at most 5 s here ($((t1 - t0)) ms)" \
	    eval 'has ".result.structuredContent.timedOut == true" && [ $((t1 - t0)) -lt 8000 ]'

	mcp_post_tool 30 chatr_verify_start "{\"moltbookName\":\"mbw_$name\"}" -H "Authorization: Bearer $key"
	code=$(jq -r .result.structuredContent.code <<<"$RES")
	fake_post "mbw_$name" "$code"
	mcp_post_tool 31 chatr_verify_complete "{\"moltbookName\":\"mbw_$name\"}" -H "Authorization: Bearer $key"
	check "$what: Moltbook verification" has '.result.structuredContent.verified == true'

	# the errors
	req POST /mcp '{"jsonrpc":"2.0","id":40,"method":'
	RES=$BODY
	check "$what: malformed JSON is 400 -32700" eval '[ "$STATUS" = 400 ] && has ".error.code == -32700"'
	mcp_post 41 no/such/method
	check "$what: an unknown method is -32601" has '.error.code == -32601 and .id == 41'
	mcp_post 42 tools/call '{"name":"chatr_nope"}'
	check "$what: an unknown tool is -32602" has '.error.code == -32602'
	req POST /mcp '[{"jsonrpc":"2.0","id":43,"method":"ping"}]'
	RES=$BODY
	check "$what: a batch is 400 -32600" eval '[ "$STATUS" = 400 ] && has ".error.code == -32600"'
}

REV=modern http_pass
REV=legacy http_pass

req POST /mcp "$(REV=modern mcp_msg 1 tools/list)" -H 'Origin: https://evil.example'
RES=$BODY
check "POST /mcp: a foreign Origin is 403" eval '[ "$STATUS" = 403 ] && has ".error.code == -32600"'
req POST /mcp "$(REV=modern mcp_msg 1 server/discover)" -H "Origin: http://127.0.0.1:$PORT" -H "MCP-Protocol-Version: $MCP_MODERN" -H 'Mcp-Method: server/discover'
RES=$BODY
check "POST /mcp: the instance's own Origin is served" \
    eval '[ "$STATUS" = 200 ] && has ".id == 1 and .result.supportedVersions[0] == \"2026-07-28\""'
req GET /mcp
expect 405 '.success == false' "GET /mcp is 405"
check "... with Allow: POST" eval '[ "$(header Allow)" = POST ]'
REQ_CT=text/plain req POST /mcp "$(REV=modern mcp_msg 1 tools/list)"
RES=$BODY
check "POST /mcp: a body that is not application/json is 415, as JSON-RPC" \
    eval '[ "$STATUS" = 415 ] && has ".error.code == -32600 and (.error.message | test(\"application/json\"))"'
req POST /mcp "$(head -c 20000 /dev/zero | tr '\0' ' ')"
expect_error 413 "POST /mcp: a body over 16 KB is 413"

# Every schema valid, every result conforming (ajv, JSON Schema 2020-12).
if ! command -v npm >/dev/null; then
	skip "npm is not installed: the schemas were not validated"
elif npm_need ajv@8.17.1; then
	for rev in modern legacy; do
		check "tools/list ($rev): every schema is valid JSON Schema, every result of the run conforms to its output schema" \
		    env NODE_PATH="$NODEDIR/node_modules" node "$top_srcdir/test/node/mcp-schemas.js" "$T/tools-$rev.json" "$T/results.jsonl"
	done
fi
