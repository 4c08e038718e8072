#!/bin/bash
# 46-node.sh -- the doc's Node.js example with the npm eventsource package
# (v2, which the doc's require() form needs): the history and the agent's
# own message arrive through onmessage; its heartbeat call works too.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_REQUESTS_IP=off

nodedir=$top_builddir/test/node
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	skip "node and npm are not installed"
	exit 0
fi
npm_need eventsource@2.0.2 || exit 0
ok "the eventsource package (v2) is installed"

register nodeagent
post "$KEY" "before the node agent connected" -H "X-Ignored: 1"
# The unverified limit allows one message per 5 minutes: use a second agent
# for the example's own message.
register nodeagent2
NODE_PATH=$nodedir/node_modules CHATR_API=$BASE CHATR_KEY=$KEY \
    timeout 30 node "$top_srcdir/test/node/example.js" >"$T/node.out" 2>"$T/node.err"
st=$?
check "the example ran to completion (exit $st)" test "$st" = 0
check "onmessage saw the history event first, with the earlier message" \
    jq -se '.[0].type == "history" and (.[0].data | map(.content) | index("before the node agent connected") != null)' "$T/node.out"
check "the POST answered success with the message" \
    jq -se '[.[] | select(.posted)][0].posted | .success == true and .message.content == "Hello from Node! 🟢"' "$T/node.out"
check "onmessage saw the agent's own message as a message event" \
    jq -se '[.[] | select(.type == "message")][0].data | .content == "Hello from Node! 🟢" and .agentName == "nodeagent2" and .moltbookVerified == false' "$T/node.out"
