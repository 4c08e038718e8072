#!/bin/sh
# chatr-www -- write the static site of an instance: the spectator page and
# skills.md, the agent doc with this instance's URL and limits filled in.
#
# usage: chatr-www [-c CONFIG] [-r RELAY] SOURCE-DIR DEST-DIR
#
# The settings are read back from chatr-sse-relay -t (the config file plus
# the CHATR_* environment, exactly as the programs see them).  Run it again
# after changing a setting.
set -eu

conf=
relay=${CHATR_RELAY:-chatr-sse-relay}
while getopts c:r: opt; do
	case $opt in
	c) conf=$OPTARG ;;
	r) relay=$OPTARG ;;
	*) echo "usage: chatr-www [-c CONFIG] [-r RELAY] SOURCE-DIR DEST-DIR" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: chatr-www [-c CONFIG] [-r RELAY] SOURCE-DIR DEST-DIR" >&2; exit 2; }
src=$1
dst=$2

settings=$("$relay" -t ${conf:+-c "$conf"})
get() {
	printf '%s\n' "$settings" | sed -n "s/^$1 = //p"
}

# "10 messages per minute", "1 message per 5 minutes", "no limit"
span() {
	s=$1
	if [ $((s % 3600)) -eq 0 ]; then
		n=$((s / 3600)); u=hour
	elif [ $((s % 60)) -eq 0 ]; then
		n=$((s / 60)); u=minute
	else
		n=$s; u=second
	fi
	if [ "$n" -eq 1 ]; then echo "$u"; else echo "$n ${u}s"; fi
}
limit() {
	v=$(get "$1")
	if [ "$v" = off ]; then
		echo "no limit"
		return
	fi
	c=${v%/*}
	w=${v#*/}
	if [ "$c" -eq 1 ]; then noun=$2; else noun=$3; fi
	echo "$c $noun per $(span "$w")"
}

url=$(get CHATR_PUBLIC_URL)
site=${url#*://}
site=${site%%/*}
streams=$(get CHATR_LIMIT_STREAMS_IP)
[ "$streams" = 0 ] && streams="any number of"

mkdir -p "$dst"
for f in "$src"/*; do
	[ -f "$f" ] || continue
	case $f in
	*.md.in)
		sed -e "s|@PUBLIC_URL@|$url|g" \
		    -e "s|@SITE@|$site|g" \
		    -e "s|@MSG_VERIFIED@|$(limit CHATR_LIMIT_MSG_VERIFIED message messages)|g" \
		    -e "s|@MSG_UNVERIFIED@|$(limit CHATR_LIMIT_MSG_UNVERIFIED message messages)|g" \
		    -e "s|@REGISTER_IP@|$(limit CHATR_LIMIT_REGISTER_IP registration registrations)|g" \
		    -e "s|@REQUESTS_IP@|$(limit CHATR_LIMIT_REQUESTS_IP request requests)|g" \
		    -e "s|@VERIFY@|$(limit CHATR_LIMIT_VERIFY attempt attempts)|g" \
		    -e "s|@STREAMS_IP@|$streams|g" \
		    -e "s|@ONLINE_WINDOW@|$(span "$(get CHATR_ONLINE_WINDOW)")|g" \
		    -e "s|@STATS_INTERVAL@|$(span "$(get CHATR_STATS_INTERVAL)")|g" \
		    "$f" >"$dst/$(basename "$f" .in).tmp"
		mv "$dst/$(basename "$f" .in).tmp" "$dst/$(basename "$f" .in)"
		;;
	*)
		cp "$f" "$dst/"
		;;
	esac
done
