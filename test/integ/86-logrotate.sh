#!/bin/bash
# 86-logrotate.sh -- the message log rotated by logrotate itself, in its
# create mode (rename, a new file) and its copytruncate mode (copy, then
# truncate in place), while posts run and a stream is open: the stream
# gets every acknowledged message once, in order, and new posts after
# each rotation land in the log the path names.
. "$(dirname "$0")/lib.sh"
if ! command -v logrotate >/dev/null; then
	skip "logrotate is not installed"
	exit 0
fi
start_chatr CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_REQUESTS_IP=off
register rotor
K=$KEY
stream_open s

# posts N WHAT: N posts, in the background; their acknowledged ids go to
# $T/acked.
posts() {
	local i
	for i in $(seq 1 "$1"); do
		post "$K" "$2 $i"
		[ "$STATUS" = 200 ] && jq -r .message.id <<<"$BODY" >>"$T/acked"
	done
}

# holds NAME: stream NAME's messages (its history's and its message
# events') ascend strictly and include every acknowledged id.
holds() {
	stream_events "$1" | jq -r 'if .type == "history" then .data[].id
	    elif .type == "message" then .data.id else empty end' >"$T/$1.ids"
	sort -n -u -c "$T/$1.ids" 2>/dev/null || return 1
	[ -z "$(comm -23 <(sort "$T/acked") <(sort "$T/$1.ids"))" ]
}

rotate() { # MODE: one logrotate run over messages.log, forced
	cat >"$T/logrotate.conf" <<CONF
$T/var/messages.log {
	rotate 5
	missingok
	$1
}
CONF
	logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf"
}

for mode in create copytruncate; do
	posts 40 "before $mode" &
	bg=$!
	sleep 0.3
	check "logrotate ($mode) ran while posts went on" rotate "$mode"
	wait "$bg"
	posts 5 "after $mode"
	check "$mode: the stream has every acknowledged message once, in order" \
	    wait_for 15 holds s
	last=$(tail -n 1 "$T/acked")
	check "$mode: the newest post is in the log the path names" \
	    wait_for 5 eval 'grep -q "\"id\":\"$last\"" "$T/var/messages.log"'
done
check "each rotation kept its file" \
    test -s "$T/var/messages.log.1" -a -s "$T/var/messages.log.2"
stream_open fresh -H "Last-Event-ID: 0"
check "a stream resumed from the start after both rotations has them all too" \
    wait_for 15 holds fresh
stream_close fresh
stream_close s
