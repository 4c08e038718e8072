#!/bin/bash
# 82-chatrctl.sh -- the operator's tool against a running instance, with
# posts and streams live: agents; ban (403 with the reason, off the online
# list), unban, ban --purge; delete (the delete event on a live stream, the
# message gone from GET /api/messages and from a fresh stream's history);
# revoke (the old key 401, the new one 200); block a network (403 inside
# it, 200 outside); stats; the audit log; a hot backup while posts run,
# restored into a new CHATR_VAR, where an instance has every acknowledged
# message and the agents' keys; verify; and bad arguments.
. "$(dirname "$0")/lib.sh"
start_chatr CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_REQUESTS_IP=off \
    CHATR_LIMIT_REGISTER_IP=off

CTL=$top_builddir/ctl/chatrctl
export CHATR_CONFIG=$T/var/chatr.conf
# ctl ARGS...: run chatrctl; sets RC, OUT (stdout) and ERR (stderr).
ctl() {
	RC=0
	"$CTL" "$@" >"$T/ctl.out" 2>"$T/ctl.err" || RC=$?
	OUT=$(cat "$T/ctl.out")
	ERR=$(cat "$T/ctl.err")
}
# ctl_ok DESC JQ ARGS...: chatrctl --json ARGS exits 0, says nothing on
# stderr, and prints JSON for which JQ holds.
ctl_ok() {
	local d=$1 expr=$2
	shift 2
	ctl --json "$@"
	if [ "$RC" != 0 ] || [ -n "$ERR" ]; then
		not_ok "$d" "chatrctl $* exited $RC" "stderr: $ERR"
	elif ! printf '%s' "$OUT" | jq -e "$expr" >/dev/null 2>&1; then
		not_ok "$d" "output fails: $expr" "output: ${OUT:0:800}"
	else
		ok "$d"
	fi
}
# ctl_fails DESC PATTERN ARGS...: chatrctl ARGS exits 1 with one line on
# stderr that matches PATTERN.
ctl_fails() {
	local d=$1 pat=$2
	shift 2
	ctl "$@"
	if [ "$RC" != 1 ]; then
		not_ok "$d" "chatrctl $* exited $RC, expected 1" "stderr: $ERR"
	elif [ "$(printf '%s\n' "$ERR" | wc -l)" != 1 ] ||
	    ! grep -Eq "^chatrctl: .*$pat" <<<"$ERR"; then
		not_ok "$d" "stderr is not one line matching $pat" "stderr: $ERR"
	else
		ok "$d"
	fi
}

register alice
AK=$KEY AID=$ID
register bob
BK=$KEY BID=$ID
for i in 1 2 3; do
	post "$AK" "alice $i"
	expect 200 '.success == true' "alice posts message $i"
done
A1=$(jq -r '.message.id' <<<"$BODY")
post "$BK" "bob says hi"
expect 200 '.success == true' "bob posts"
req POST /api/heartbeat '' -H "Authorization: Bearer $BK"
expect 200 '.success == true' "bob's heartbeat"
stream_open live

# --- help and bad arguments --------------------------------------------------
ctl help
lists_all() {
	local c
	for c in agents ban unban delete revoke block unblock blocks stats \
	    audit backup restore verify; do
		grep -q "^  $c" "$T/ctl.out" || return 1
	done
}
check "chatrctl help lists every command" lists_all
ctl help ban
check "chatrctl help ban says what ban does" grep -q 'purge' "$T/ctl.out"
ctl_fails "an unknown command fails with one line" "no such command" frobnicate
ctl_fails "ban without a name fails with its usage" "usage: chatrctl ban" ban
ctl_fails "an option another command takes is refused" "usage: chatrctl delete" delete 1 --purge
ctl_fails "banning a name no agent has fails" "no agent is named nobody" ban nobody
ctl_fails "delete of something that is not an id fails" "not a message id: 12x" delete 12x
ctl_fails "block of something that is not an address fails" "not an address or a network" block 300.1.2.3
ctl_fails "a network with too many bits fails" "not an address or a network" block 10.0.0.0/33

# --- agents --------------------------------------------------------------------
ctl_ok "chatrctl agents --json lists both agents with their message counts" \
    "length == 2 and (map(select(.name == \"alice\"))[0] | .id == \"$AID\" and .messages == 3 and .banned == false and .verified == false)
     and (map(select(.name == \"bob\"))[0] | .messages == 1 and .online == true)" agents
ctl agents
check "chatrctl agents prints a table with both" \
    eval 'grep -q "^alice .*$AID" "$T/ctl.out" && grep -q "^bob " "$T/ctl.out"'

# --- ban, unban ------------------------------------------------------------------
ctl_ok "chatrctl ban bob --reason spam" ".name == \"bob\" and .banned == true" ban bob --reason "spam links"
post "$BK" "still here?"
expect 403 '.success == false and .banned == true and .reason == "spam links" and (.error | test("banned"))' \
    "a banned agent's post is 403 with the reason"
req POST /api/heartbeat '' -H "Authorization: Bearer $BK"
expect 403 '.banned == true' "a banned agent's heartbeat is 403"
req POST /api/verify/start '{"moltbookName":"bobby"}' -H "Authorization: Bearer $BK"
expect 403 '.banned == true' "a banned agent's verification is 403"
req GET /api/agents
expect 200 "(.agents | map(.name) | index(\"bob\")) == null" "a banned agent is off the online list"
ctl_ok "chatrctl agents --banned lists bob alone" \
    'length == 1 and .[0].name == "bob" and .[0].banReason == "spam links"' agents --banned
ctl_ok "chatrctl unban bob" '.banned == false' unban bob
post "$BK" "back again"
expect 200 '.success == true' "an unbanned agent posts again"
ctl_fails "unban of an agent not banned fails" "bob is not banned" unban bob

# --- delete ------------------------------------------------------------------------
ctl_ok "chatrctl delete $A1" ".[0].id == \"$A1\" and .[0].deleted == true" delete "$A1"
check "a live stream gets the delete event" \
    stream_wait live "map(select(.type == \"delete\" and .data.id == \"$A1\")) | length == 1"
req GET "/api/messages?after=0&limit=100"
expect 200 "(.messages | map(.id) | index(\"$A1\")) == null and (.messages | length) == 4" \
    "the deleted message is gone from GET /api/messages"
stream_open fresh
check "a fresh stream's history lacks the deleted message" \
    stream_wait fresh "(map(select(.type == \"history\"))[0].data | map(.id)) as \$h | (\$h | length) == 4 and (\$h | index(\"$A1\")) == null"
stream_close fresh
stream_open resumed -H "Last-Event-ID: 0"
check "a stream resumed from the start lacks it too" \
    stream_wait resumed "(map(select(.type == \"history\"))[0].data | map(.id)) as \$h | (\$h | length) == 4 and (\$h | index(\"$A1\")) == null"
stream_close resumed
ctl_fails "deleting it again says there is no such message" "no message $A1" delete "$A1"

# ban --purge takes the agent's messages with it
register carol
CK=$KEY
post "$CK" "carol one"
C1=$(jq -r '.message.id' <<<"$BODY")
post "$CK" "carol two"
C2=$(jq -r '.message.id' <<<"$BODY")
ctl_ok "chatrctl ban carol --purge deletes her two messages" '.banned == true and .deleted == 2' ban carol --purge
check "the live stream gets a delete event for each" \
    stream_wait live "map(select(.type == \"delete\") | .data.id) as \$d | (\$d | index(\"$C1\")) != null and (\$d | index(\"$C2\")) != null"
req GET "/api/messages?after=0&limit=100"
expect 200 "(.messages | map(.agentName) | index(\"carol\")) == null" "her messages are gone from GET /api/messages"

# --- revoke ------------------------------------------------------------------------
ctl_ok "chatrctl revoke alice prints a new key" '.name == "alice" and (.apiKey | test("^chatr_[0-9a-f]{32}$"))' revoke alice
NK=$(jq -r .apiKey <<<"$OUT")
post "$AK" "with the old key"
expect_error 401 "the old key is refused at once"
post "$NK" "with the new key"
expect 200 '.success == true and .message.agentName == "alice"' "the new key posts"
check "the new key is nowhere in the store's files" \
    eval '! grep -rqa "$NK" "$T/var/db"'

# --- block -------------------------------------------------------------------------
ctl_ok "chatrctl block 127.0.0.2/31 --reason abuse" '.network == "127.0.0.2/31" and .blocked == true' block 127.0.0.2/31 --reason abuse
ctl_ok "chatrctl block of an IPv6 network" '.network == "2001:db8::/32"' block 2001:db8:1::5/32
req POST /api/register '{"name":"inside"}' --interface 127.0.0.3
expect 403 '.blocked == true and .reason == "abuse"' "a registration from inside the block is 403"
post "$NK" "from inside" --interface 127.0.0.2
expect 403 '.blocked == true' "a post from inside the block is 403"
req POST /api/register '{"name":"outside"}' --interface 127.0.0.4
expect 200 '.success == true' "a registration from outside it is 200"
post "$NK" "from outside" --interface 127.0.0.1
expect 200 '.success == true' "a post from outside it is 200"
ctl_ok "chatrctl blocks lists both" 'map(.network) == ["127.0.0.2/31","2001:db8::/32"] and .[0].reason == "abuse"' blocks
ctl_fails "blocking it twice fails" "already blocked" block 127.0.0.2/31
ctl_ok "chatrctl unblock 127.0.0.2/31" '.blocked == false' unblock 127.0.0.2/31
post "$NK" "inside, unblocked" --interface 127.0.0.2
expect 200 '.success == true' "after unblock the address posts again"

# --- stats, audit ------------------------------------------------------------------
ctl_ok "chatrctl stats" '.agents == 4 and .messages == 7 and .streams >= 1 and .messagesLastMinute == 7 and .messagesLastHour == 7 and .storeBytes > 0' stats
ME=$(id -un)
ctl_ok "chatrctl audit has every action, with its operator" \
    "map(.action) == [\"ban\",\"unban\",\"delete\",\"ban --purge\",\"revoke\",\"block\",\"block\",\"unblock\"]
     and all(.[]; .operator == \"$ME\" and (.at | test(\"^20[0-9-]+T\")))
     and .[0].target == \"bob\" and .[0].reason == \"spam links\" and .[2].target == \"message $A1\"" audit

# --- backup while posts run, restore into a new CHATR_VAR -----------------------------
ctl_fails "restore into the running instance is refused" "service is running" restore "$T/nowhere"
(
	for i in $(seq 1 150); do
		code=$(curl -s -o "$T/bg.body" -w '%{http_code}' -X POST \
		    -H "Authorization: Bearer $NK" -H 'Content-Type: application/json' \
		    --data-binary "{\"content\":\"during the backup $i\"}" "$BASE/api/messages")
		[ "$code" = 200 ] && jq -r .message.id "$T/bg.body" >>"$T/acked"
	done
) &
BG=$!
wait_for 20 test -s "$T/acked"
sleep 0.5
cp "$T/acked" "$T/acked-before"
ctl_ok "chatrctl backup while posts run" ".bytes > 0" backup "$T/backup"
wait "$BG"
check "the posts went on during the backup" test "$(wc -l <"$T/acked")" -ge 100
ctl_ok "chatrctl verify on the live instance" '.ok == true and .databases >= 11 and .logMissing == 0 and .logDiffer == 0 and .logDeleted == 3' verify
stream_close live
stop_chatr
CHATR_VAR=$T/var2 ctl --json restore "$T/backup"
check "chatrctl restore into a new CHATR_VAR" test "$RC" = 0
start_chatr CHATR_VAR="$T/var2" CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_REQUESTS_IP=off
req GET "/api/messages?after=0&limit=100"
ids=$(jq -r '.messages[].id' <<<"$BODY")
after=$(tail -n 1 <<<"$ids")
while :; do
	req GET "/api/messages?after=$after&limit=100"
	more=$(jq -r '.messages[].id' <<<"$BODY")
	[ -z "$more" ] && break
	ids=$(printf '%s\n%s' "$ids" "$more")
	after=$(tail -n 1 <<<"$more")
done
printf '%s\n' "$ids" >"$T/restored"
check "the restored instance has every message acknowledged before the backup" \
    eval '! comm -23 <(sort "$T/acked-before") <(sort "$T/restored") | grep -q .'
check "and none of the deleted ones" \
    eval '! grep -qx -e "$A1" -e "$C1" -e "$C2" "$T/restored"'
post "$NK" "after the restore"
expect 200 '.success == true and .message.agentName == "alice"' "alice's key from before the backup posts on the restored instance"
post "$AK" "old key"
expect_error 401 "the key revoked before the backup stays revoked"
CHATR_VAR=$T/var2 ctl_ok "the restored store verifies" '.ok == true' verify
CHATR_VAR=$T/var2 ctl_ok "the restored store has the audit log" 'length == 8' audit
