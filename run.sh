#!/bin/sh
# run.sh -- install what chatr needs, build it, and run one local instance in
# the foreground at http://127.0.0.1:$CHATR_PORT/ (lighttpd, the FastCGI
# programs it spawns, and the SSE relay).  Ready when GET /api/agents answers
# 200.  SIGINT (Ctrl-C) or SIGTERM stops every process it started.
#
# Settings come from the environment; see the README for all of them:
#   CHATR_PORT (8080)  CHATR_VAR (./var)  CHATR_PUBLIC_URL  CHATR_MOLTBOOK_API
#   CHATR_STATS_INTERVAL  CHATR_LIMIT_*  CHATR_ONLINE_WINDOW ...
# For the test suite and benchmarks:
#   CHATR_BUILDDIR   the build tree to use (default ./build)
#   CHATR_NO_BUILD=1 skip the package check and the build
#   CHATR_WRAPPER    a command to run every chatr program under (valgrind)
#   CHATR_PROCS      FastCGI processes per endpoint
set -eu

top=$(cd "$(dirname "$0")" && pwd)
. "$top/tools/build.sh"

bld=${CHATR_BUILDDIR:-$top/build}
if [ "${CHATR_NO_BUILD:-0}" != 1 ]; then
	chatr_packages $CHATR_PKGS_BUILD $CHATR_PKGS_RUN
	chatr_build "$top" "$bld"
fi
bld=$(cd "$bld" && pwd)
# Every program lighttpd.conf.example names, and the relay.
for p in $(sed -n 's|.*"/\(chatr-[a-z-]*\)".*|fcgi-bin/\1|p' "$top/lighttpd.conf.example") \
    sse-relay/chatr-sse-relay; do
	if [ ! -x "$bld/$p" ]; then
		echo "run.sh: $bld/$p is missing; build first" >&2
		exit 1
	fi
done

port=${CHATR_PORT:-8080}
var=${CHATR_VAR:-./var}
mkdir -p "$var"
var=$(cd "$var" && pwd)
public=${CHATR_PUBLIC_URL:-http://127.0.0.1:$port}
procs=${CHATR_PROCS:-}
mkdir -p "$var/run" "$var/log" "$var/www"

# Many held streams need many descriptors: two each in a lighttpd worker
# (one lighttpd worker per core), one each in the relay.  Unless
# CHATR_STREAMS_MAX says otherwise, the relay refuses streams (429) before
# lighttpd runs short of descriptors and stops accepting connections.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || :
fds=$(ulimit -n)
[ "$fds" = unlimited ] && fds=65536
workers=${CHATR_WORKERS:-$(nproc 2>/dev/null || echo 1)}
[ "$workers" -gt 4 ] && workers=4
streams=$((workers * (fds * 4 / 10) - 500))
[ "$streams" -gt $((fds - 500)) ] && streams=$((fds - 500))
[ "$streams" -lt 100 ] && streams=100
: "${CHATR_STREAMS_MAX:=$streams}"
export CHATR_STREAMS_MAX

# The config file every chatr program reads (CHATR_CONFIG).
conf=$var/chatr.conf
{
	echo "# Written by run.sh; the environment overrides it."
	echo "CHATR_PORT = $port"
	echo "CHATR_VAR = $var"
	echo "CHATR_PUBLIC_URL = $public"
	for k in CHATR_MOLTBOOK_API CHATR_STATS_INTERVAL \
	    CHATR_LIMIT_MSG_VERIFIED CHATR_LIMIT_MSG_UNVERIFIED \
	    CHATR_LIMIT_REGISTER_IP CHATR_LIMIT_REQUESTS_IP CHATR_LIMIT_VERIFY \
	    CHATR_LIMIT_STREAMS_IP CHATR_STREAMS_MAX CHATR_ONLINE_WINDOW \
	    CHATR_DB_CACHE_MB CHATR_WATCHDOG CHATR_LOG_LEVEL; do
		eval "v=\${$k:-}"
		[ -n "$v" ] && echo "$k = $v"
	done
} >"$conf.tmp"
mv "$conf.tmp" "$conf"
export CHATR_CONFIG="$conf"
relay=$bld/sse-relay/chatr-sse-relay
if ! "$relay" -t -c "$conf" >/dev/null; then
	echo "run.sh: the settings above are not valid" >&2
	exit 1
fi

# The static site: the spectator page and this instance's skills.md.
"$top/tools/chatr-www.sh" -c "$conf" -r "$relay" "$top/www" "$var/www"

# lighttpd's config: lighttpd.conf.example with this instance's settings.
# CHATR_WRAPPER: lighttpd wants bin-path's program as a path, not a name.
wrap=
if [ -n "${CHATR_WRAPPER:-}" ]; then
	set -- $CHATR_WRAPPER
	w=$(command -v "$1") || { echo "run.sh: CHATR_WRAPPER: $1 not found" >&2; exit 1; }
	shift
	wrap="$w${*:+ $*} "
	set --
fi
sed -e "s|^var.chatr_port .*|var.chatr_port    = $port|" \
    -e "s|^var.chatr_var .*|var.chatr_var     = \"$var\"|" \
    -e "s|^var.chatr_libexec .*|var.chatr_libexec = \"$bld/fcgi-bin\"|" \
    -e "s|^var.chatr_www .*|var.chatr_www     = \"$var/www\"|" \
    -e "s|^var.chatr_conf .*|var.chatr_conf    = \"$conf\"|" \
    -e "s|^var.chatr_log .*|var.chatr_log     = \"$var/log\"|" \
    -e "s|^var.chatr_pid .*|var.chatr_pid     = \"$var/run/lighttpd.pid\"|" \
    ${procs:+-e "s|\"max-procs\" *=> *[0-9]*|\"max-procs\"       => $procs|"} \
    -e "s|\"bin-path\" *=> *var.chatr_libexec|\"bin-path\"        => \"$wrap\" + var.chatr_libexec|" \
    -e "s|^server.max-worker .*|server.max-worker      = $workers|" \
    -e "s|^server.max-fds .*|server.max-fds         = $fds|" \
    -e "s|^server.max-connections .*|server.max-connections = $((fds / 2 - 16))|" \
    "$top/lighttpd.conf.example" >"$var/lighttpd.conf"


pids=
lsid=
stop() {
	trap - INT TERM EXIT
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || :
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || :
	done
	# FastCGI programs that a lighttpd worker started in place of dead
	# ones can outlive lighttpd: stop whatever is left in its session.
	if [ -n "$lsid" ]; then
		pkill -TERM -s "$lsid" 2>/dev/null || :
		i=0
		while pgrep -s "$lsid" >/dev/null 2>&1 && [ $i -lt 30 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		pkill -KILL -s "$lsid" 2>/dev/null || :
	fi
	exit "${1:-0}"
}
trap 'stop 0' INT TERM
trap 'stop 1' EXIT

# The relay, restarted if it dies.  Its log: $var/log/relay.log.
relay_loop() {
	rp=
	trap 'trap - TERM INT; [ -n "$rp" ] && kill -TERM "$rp" 2>/dev/null; wait "$rp" 2>/dev/null; exit 0' TERM INT
	while :; do
		$wrap "$relay" -c "$conf" ${CHATR_RELAY_LISTEN:+-l "$CHATR_RELAY_LISTEN"} \
		    2>>"$var/log/relay.log" &
		rp=$!
		st=0
		wait "$rp" || st=$?
		echo "run.sh: relay exited (status $st); restarting" >>"$var/log/relay.log"
		sleep 1
	done
}
relay_loop &
pids="$pids $!"

# In a session of its own: with server.max-worker, lighttpd's master stops
# its workers by signalling its whole process group, which must not be
# ours (nor that of whoever started run.sh).
setsid lighttpd -D -f "$var/lighttpd.conf" &
pids="$pids $!"
lpid=$!
sleep 0.1
s=$(ps -o sid= -p "$lpid" 2>/dev/null | tr -d ' ') || s=
[ -n "$s" ] && [ "$s" = "$lpid" ] && lsid=$s

# Wait until the API answers, then until lighttpd exits.
i=0
while :; do
	if ! kill -0 "$lpid" 2>/dev/null; then
		echo "run.sh: lighttpd failed to start; see $var/log/lighttpd.log" >&2
		stop 1
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/agents" || :)
	[ "$code" = 200 ] && break
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		echo "run.sh: no answer on port $port after 30 s" >&2
		stop 1
	fi
	sleep 0.1
done
echo "chatr is running at http://127.0.0.1:$port/ (state in $var, logs in $var/log); Ctrl-C stops it"

while kill -0 "$lpid" 2>/dev/null; do
	wait "$lpid" 2>/dev/null || :
done
echo "run.sh: lighttpd exited" >&2
stop 1
