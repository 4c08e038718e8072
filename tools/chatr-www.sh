#!/bin/sh
# chatr-www -- write the static site of an instance: the spectator page and
# skills.md, the agent doc with this instance's URL and limits filled in.
#
# usage: chatr-www [-c CONFIG] [-r RELAY] [-C PROGRAMS [-s SHARE]]
#                  SOURCE-DIR DEST-DIR
#
# The settings are read back from chatr-sse-relay -t (the config file plus
# the CHATR_* environment, exactly as the programs see them).  Run it again
# after changing a setting.
#
# With -C, DEST-DIR becomes a whole room for Apache with CGI only, in a
# directory of a web space (shared hosting, .htaccess only): the programs
# from PROGRAMS (chatr-register as api/register, ...), the relay as
# api/stream, the error documents and the two .htaccess files from SHARE
# (the directory holding errors/ and apache-site.htaccess).  The room's URL
# path is that of CHATR_PUBLIC_URL.
set -eu

usage() {
	echo "usage: chatr-www [-c CONFIG] [-r RELAY] [-C PROGRAMS [-s SHARE]] SOURCE-DIR DEST-DIR" >&2
	exit 2
}
conf=
relay=${CHATR_RELAY:-chatr-sse-relay}
progs=
share=${CHATR_SHARE:-.}
while getopts c:r:C:s: opt; do
	case $opt in
	c) conf=$OPTARG ;;
	r) relay=$OPTARG ;;
	C) progs=$OPTARG ;;
	s) share=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
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

[ -n "$progs" ] || exit 0

# The room as CGI in a directory.  Its path below the site, from the
# public URL: "https://example.org/~ann/chatr" is "/~ann/chatr".
base=${url#*://}
case $base in
*/*) base=/${base#*/} ;;
*) base= ;;
esac
base=${base%/}
case "$base" in
*[!A-Za-z0-9/._~-]*)
	echo "chatr-www: the public URL's path ($base) may hold only letters, digits and / . _ ~ -" >&2
	exit 1 ;;
esac
cfile=$conf
[ -n "$cfile" ] || cfile=${CHATR_CONFIG:-}
[ -n "$cfile" ] || { echo "chatr-www: -C needs the config file (-c or CHATR_CONFIG)" >&2; exit 1; }
case $cfile in
/*) ;;
*) cfile=$(cd "$(dirname "$cfile")" && pwd)/$(basename "$cfile") ;;
esac
case $cfile in
*[\"\\\|\&]*|*' '*) echo "chatr-www: the config file's path may not hold spaces, \", \\, | or &" >&2; exit 1 ;;
esac
for f in "$share/apache-site.htaccess" "$share/apache-api.htaccess" "$share/errors/404.html" "$progs/chatr-register"; do
	[ -r "$f" ] || { echo "chatr-www: $f is missing" >&2; exit 1; }
done

# A program is copied in whole and then renamed, so that Apache never
# runs half a file.
install_prog() {
	cp "$1" "$2.tmp"
	chmod 755 "$2.tmp"
	mv "$2.tmp" "$2"
}
mkdir -p "$dst/api/verify" "$dst/errors"
# The routes, as lighttpd-chatr.conf and apache-chatr.conf have them (a
# route that is not here is Apache's JSON 404; chatr-notfound is not
# needed).
for r in register heartbeat disconnect messages verify-start \
    verify-complete agents health metrics mcp-http; do
	case $r in
	metrics) to=$dst/metrics ;;
	mcp-http) to=$dst/mcp ;;
	verify-*) to=$dst/api/verify/${r#verify-} ;;
	*) to=$dst/api/$r ;;
	esac
	install_prog "$progs/chatr-$r" "$to"
done
install_prog "$(command -v "$relay")" "$dst/api/stream"
cp "$share"/errors/[0-9]*.html "$dst/errors/"
sed -e "s|@BASE@|$base|g" -e "s|@CONFIG@|$cfile|g" \
    "$share/apache-site.htaccess" >"$dst/.htaccess.tmp"
mv "$dst/.htaccess.tmp" "$dst/.htaccess"
cp "$share/apache-api.htaccess" "$dst/api/.htaccess.tmp"
mv "$dst/api/.htaccess.tmp" "$dst/api/.htaccess"
