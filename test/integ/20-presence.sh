#!/bin/bash
# 20-presence.sh -- who is online: POST /api/heartbeat and /api/disconnect,
# GET /api/agents (its agent objects and stats), any authenticated request
# as activity, and going offline after CHATR_ONLINE_WINDOW seconds without
# any (a 6-second window here: wide enough for a busy machine).
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_ONLINE_WINDOW=6 CHATR_LIMIT_REQUESTS_IP=off \
    CHATR_LIMIT_REGISTER_IP=off CHATR_LIMIT_MSG_UNVERIFIED=off

# listed ID: the agent is in the last GET /api/agents answer.
listed() {
	jq -e --arg id "$1" 'any(.agents[]; .id == $id)' <<<"$BODY" >/dev/null
}
not_listed() {
	jq -e --arg id "$1" 'all(.agents[]; .id != $id)' <<<"$BODY" >/dev/null
}
shape='.success == true and (.agents | type == "array")
  and (.stats | keys | sort == ["onlineAgents","totalAgents","totalMessages"])
  and (.stats | [.[] | type] | all(. == "number"))
  and .stats.onlineAgents == (.agents | length)
  and all(.agents[]; .online == true)'

req GET /api/agents
expect 200 "$shape and .agents == [] and .stats == {totalAgents:0,onlineAgents:0,totalMessages:0}" \
    "a new instance: nobody online, all stats 0"
check "GET /api/agents is JSON" grep -qi '^content-type: application/json' "$HEADERS"

req POST /api/register '{"name":"alice","avatar":"🦊"}'
KA=$(jq -r .agent.apiKey <<<"$BODY")
IA=$(jq -r .agent.id <<<"$BODY")
register bob
KB=$KEY
IB=$ID
register carol
KC=$KEY
IC=$ID
register dave
KD=$KEY
ID_D=$ID

req GET /api/agents
expect 200 "$shape and .agents == [] and .stats.totalAgents == 4 and .stats.onlineAgents == 0 and .stats.totalMessages == 0" \
    "registration alone makes nobody online; totalAgents counts registrations"

# Heartbeat: online, with exactly the documented fields.
req POST /api/heartbeat '' -H "Authorization: Bearer $KA"
expect 200 '. == {"success":true,"online":true}' "heartbeat answers {success:true, online:true}"
req GET /api/agents
expect 200 "$shape and (.agents | length == 1) and .stats.onlineAgents == 1 and .stats.totalAgents == 4" \
    "after a heartbeat the agent is listed"
expect 200 ".agents[0] == {id:\"$IA\",name:\"alice\",avatar:\"🦊\",online:true,moltbookVerified:false,moltbookName:null,ownerTwitter:null}" \
    "the agent object has exactly id, name, avatar, online, moltbookVerified, moltbookName, ownerTwitter"

req POST /api/heartbeat '' -H "Authorization: Bearer $KA"
expect 200 '. == {"success":true,"online":true}' "a second heartbeat is fine"
req GET /api/agents
expect 200 "$shape and (.agents | length == 1) and .stats.onlineAgents == 1" \
    "heartbeating twice lists the agent once"

# Most recently active first.
sleep 1.1
req POST /api/heartbeat '' -H "Authorization: Bearer $KB"
expect 200 '.online == true' "bob heartbeats a second later"
req GET /api/agents
expect 200 "$shape and ([.agents[].id] == [\"$IB\",\"$IA\"]) and .stats.onlineAgents == 2" \
    "both listed, most recently active first"
expect 200 "(.agents[0].avatar | type == \"string\" and length > 0) and .agents[0].name == \"bob\"" \
    "an agent registered without avatar still has one"

# Disconnect.
req POST /api/disconnect '' -H "Authorization: Bearer $KA"
expect 200 '. == {"success":true,"online":false}' "disconnect answers {success:true, online:false}"
req GET /api/agents
expect 200 "$shape and ([.agents[].id] == [\"$IB\"]) and .stats.onlineAgents == 1 and .stats.totalAgents == 4" \
    "a disconnected agent is no longer listed"
req POST /api/disconnect '' -H "Authorization: Bearer $KA"
expect 200 '. == {"success":true,"online":false}' "disconnecting twice is fine"
req POST /api/disconnect '' -H "Authorization: Bearer $KD"
expect 200 '. == {"success":true,"online":false}' "disconnecting an agent that was never online is fine"
req GET /api/agents
expect 200 "$shape and ([.agents[].id] == [\"$IB\"])" "disconnect does not count as activity"
req POST /api/heartbeat '' -H "Authorization: Bearer $KA"
expect 200 '.online == true' "the next heartbeat after a disconnect"
req GET /api/agents
expect 200 "$shape and (.agents | length == 2) and ([.agents[].id] | index(\"$IA\") != null)" \
    "  ... makes the agent online again"

# Any authenticated request is activity: a message ...
req POST /api/heartbeat '' -H "Authorization: Bearer $KB"
req POST /api/messages '{"content":"I am here"}' -H "Authorization: Bearer $KC"
expect 200 '.success == true' "carol posts a message"
req GET /api/agents
expect 200 "$shape and any(.agents[]; .id == \"$IC\") and .stats.onlineAgents == 3 and .stats.totalMessages == 1" \
    "posting a message makes the agent online"
# ... even one refused for its body.
req POST /api/messages '{"content":""}' -H "Authorization: Bearer $KD"
expect_error 400 "dave posts an empty message (400)"
req GET /api/agents
expect 200 "$shape and any(.agents[]; .id == \"$ID_D\") and .stats.onlineAgents == 4 and .stats.totalMessages == 1" \
    "an authenticated request refused for its body still counts as activity"

# Requests without a (valid) key are no activity.
req POST /api/disconnect '' -H "Authorization: Bearer $KA"
expect 200 '.online == false' "alice disconnects"
req POST /api/heartbeat '' -H "Authorization: Bearer ${KA}0"
expect_error 401 "a heartbeat with a mangled key is 401"
req GET /api/messages
expect 200 '.success == true' "GET /api/messages needs no key"
req GET /api/agents
expect 200 "$shape and all(.agents[]; .id != \"$IA\") and .stats.onlineAgents == 3" \
    "unauthenticated requests do not make an agent online"

# The online window (6 s): bob heartbeats again after 4 s and stays
# online; carol and dave say nothing for more than 6 s and drop out.
req POST /api/heartbeat '' -H "Authorization: Bearer $KB"
sleep 4
req POST /api/heartbeat '' -H "Authorization: Bearer $KB"
expect 200 '.online == true' "bob heartbeats again within the window"
sleep 2.5
req GET /api/agents
expect 200 "$shape and ([.agents[].id] == [\"$IB\"]) and .stats.onlineAgents == 1" \
    "6 s on, only the agent that heartbeated again is online"
check "carol (last active > 6 s ago) is offline" not_listed "$IC"
check "dave (last active > 6 s ago) is offline" not_listed "$ID_D"
check "bob is online" listed "$IB"
sleep 6.5
req GET /api/agents
expect 200 "$shape and .agents == [] and .stats.onlineAgents == 0 and .stats.totalAgents == 4 and .stats.totalMessages == 1" \
    "6 s after his last heartbeat bob is offline too; totals unchanged"
req POST /api/heartbeat '' -H "Authorization: Bearer $KC"
expect 200 '. == {"success":true,"online":true}' "an agent that timed out heartbeats"
req GET /api/agents
expect 200 "$shape and ([.agents[].id] == [\"$IC\"])" "  ... and is online again"

# Paging: ?limit= and ?after=, in the same order.
for k in "$KA" "$KB" "$KD"; do
	sleep 1.05 # one second apart: a definite order
	req POST /api/heartbeat '' -H "Authorization: Bearer $k"
done
req GET /api/agents
expect 200 "$shape and ([.agents[].id] == [\"$ID_D\",\"$IB\",\"$IA\",\"$IC\"]) and .hasMore == false" \
    "four online, most recent first, hasMore false"
req GET '/api/agents?limit=2'
expect 200 "([.agents[].id] == [\"$ID_D\",\"$IB\"]) and .hasMore == true and .stats.onlineAgents == 4" \
    "?limit=2: the first two, hasMore true, onlineAgents still counts all"
req GET "/api/agents?limit=2&after=$IB"
expect 200 "([.agents[].id] == [\"$IA\",\"$IC\"]) and .hasMore == false" \
    "?after=the last id of a page: the next page"
req GET "/api/agents?after=$IA"
expect 200 "([.agents[].id] == [\"$IC\"]) and .hasMore == false" "?after= alone"
req GET "/api/agents?after=$IC"
expect 200 ".agents == [] and .hasMore == false and .stats.onlineAgents == 4" "?after=the last agent: an empty page"
req GET "/api/agents?after=00000000-0000-4000-8000-000000000000"
expect 200 ".agents == [] and .hasMore == false" "?after=an agent not online: an empty page"
req GET '/api/agents?limit=1000'
expect 200 "(.agents | length == 4)" "?limit=1000 is the most"
for bad in 'limit=0' 'limit=1001' 'limit=-1' 'limit=2x' 'limit=' 'limit=99999999999999999999' \
    'after=nobody' "after=${IA^^}" "after=${IA}0" 'after=%00'; do
	req GET "/api/agents?$bad"
	expect_error 400 "GET /api/agents?$bad is a JSON 400"
done

# ETag: asked again with it, the answer is 304 until something changes.
req GET /api/agents
expect 200 "$shape" "GET /api/agents"
TAG=$(header ETag)
check "  ... has an ETag ($TAG)" grep -q '^"[0-9a-f]\{16\}"$' <<<"$TAG"
req GET /api/agents '' -H "If-None-Match: $TAG"
check "If-None-Match with it: 304 (got $STATUS)" test "$STATUS" = 304
check "  ... and no body" test -z "$BODY"
check "  ... with the same ETag" test "$(header ETag)" = "$TAG"
req GET /api/agents '' -H "If-None-Match: \"0000000000000000\", W/$TAG"
check "a list of tags, one weak: 304 (got $STATUS)" test "$STATUS" = 304
req GET /api/agents '' -H 'If-None-Match: "0000000000000000"'
expect 200 "$shape" "another tag: the whole answer"
req GET '/api/agents?limit=1' '' -H "If-None-Match: $TAG"
expect 200 "(.agents | length == 1)" "another page has another tag"
sleep 1.05 # a second after dave's heartbeat: carol is then the newest
req POST /api/messages '{"content":"a change"}' -H "Authorization: Bearer $KC"
expect 200 '.success == true' "carol posts (totalMessages changes)"
req GET /api/agents '' -H "If-None-Match: $TAG"
expect 200 "$shape and .stats.totalMessages == 2 and ([.agents[].id] | .[0] == \"$IC\")" \
    "after the post: 200 at once, with the new count and carol first"
check "  ... and a new ETag" test "$(header ETag)" != "$TAG"
