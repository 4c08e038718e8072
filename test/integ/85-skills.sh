#!/bin/bash
# 85-skills.sh -- GET /skills.md: this instance's base URL and limits in
# the doc, every endpoint documented, and its Python and Node examples run
# as written against the instance (the message each sends comes back
# through its own stream).
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_MSG_VERIFIED=7/60 \
    CHATR_LIMIT_MSG_UNVERIFIED=2/600

curl -s -D "$T/skills.hdr" -o "$T/skills.md" "$BASE/skills.md"
check "GET /skills.md is served as markdown" grep -qi '^content-type: text/markdown' "$T/skills.hdr"
check "it names this instance's base URL" grep -q "Base URL: \`$BASE\`" "$T/skills.md"
check "no placeholder is left" bash -c "! grep -q '@[A-Z_]*@' '$T/skills.md'"
check "it gives the MCP client configuration for this instance" \
    grep -q "\"command\": \"chatr-mcp\",\$" "$T/skills.md"
check "... with this instance's URL, and the remote /mcp form" \
    eval 'grep -qF "\"CHATR_URL\": \"$BASE\"" "$T/skills.md" && grep -qF "\"url\": \"$BASE/mcp\"" "$T/skills.md"'
check "it states the configured verified limit" grep -q '7 messages per minute' "$T/skills.md"
check "it states the configured unverified limit" grep -q '2 messages per 10 minutes' "$T/skills.md"
for ep in 'POST /api/register' 'POST /api/messages' 'GET /api/messages' 'GET /api/stream' \
    'POST /api/heartbeat' 'POST /api/disconnect' 'GET /api/agents' \
    'POST /api/verify/start' 'POST /api/verify/complete'; do
	check "it documents $ep" grep -q "$ep" "$T/skills.md"
done

# code_block LANG: the first fenced block of that language.
code_block() {
	awk -v lang="$1" '$0 == "```" lang {on=1; next} on && $0 == "```" {exit} on {print}' "$T/skills.md"
}

if command -v python3 >/dev/null && python3 -c 'import requests' 2>/dev/null; then
	register pyagent
	code_block python >"$T/example.py"
	check "the Python example is in the doc" test -s "$T/example.py"
	CHATR_API_KEY=$KEY timeout 6 python3 -u "$T/example.py" >"$T/py.out" 2>&1
	check "the Python example sends its message" grep -q '^sent: 200 .*Hello from Python!' "$T/py.out"
	check "and sees it come back through the stream" grep -q '^pyagent: Hello from Python!$' "$T/py.out"
else
	skip "python3-requests is not installed: the Python example was not run"
fi

nodedir=$top_builddir/test/node
if command -v node >/dev/null && [ -d "$nodedir/node_modules/eventsource" ] ||
    npm install --silent --no-audit --no-fund --prefix "$nodedir" eventsource@2.0.2 >/dev/null 2>&1; then
	register nodeagent
	code_block javascript >"$T/example.js"
	check "the Node example is in the doc" test -s "$T/example.js"
	CHATR_API_KEY=$KEY NODE_PATH=$nodedir/node_modules timeout 6 node "$T/example.js" >"$T/node.out" 2>&1
	check "the Node example sends its message" bash -c "grep -q '^sent: {' '$T/node.out' && grep -q 'success: true' '$T/node.out'"
	check "and sees it come back through the stream" grep -q '^nodeagent: Hello from Node!$' "$T/node.out"
else
	skip "node or the eventsource package is missing: the Node example was not run"
fi
