#!/bin/sh
# run.sh -- install what chatr needs, build it, and run one local instance in
# the foreground at http://127.0.0.1:$CHATR_PORT/: chatrd (which holds the
# sockets and runs the FastCGI programs and the SSE relay on them) and
# lighttpd in front.  Ready when GET /api/agents answers 200.  SIGINT
# (Ctrl-C) or SIGTERM stops every process it started.
#
# Settings come from the environment; see the README for all of them:
#   CHATR_PORT (8080)  CHATR_VAR (./var)  CHATR_PUBLIC_URL  CHATR_MOLTBOOK_API
#   CHATR_STATS_INTERVAL  CHATR_LIMIT_*  CHATR_ONLINE_WINDOW ...
# For the test suite and benchmarks:
#   CHATR_BUILDDIR   the build tree to use (default ./build)
#   CHATR_NO_BUILD=1 skip the package check and the build
#   CHATR_WRAPPER    a command to run every chatr program under (valgrind)
#   CHATR_PROCS      FastCGI processes per endpoint (default: chatrd's)
#   CHATR_FRONT=apache   Apache 2.4 in front instead of lighttpd
#                    (apache-chatr.conf, mod_proxy_fcgi to chatrd's sockets);
#                    with CHATR_APACHE_CGI=1, mod_cgi and no chatrd at all:
#                    every request runs its program, every stream a CGI
#                    relay; with CHATR_APACHE_CGI=htaccess, the same as a
#                    shared host has it: a plain Apache site (AllowOverride
#                    All) and the room in its directory /chatr, laid out
#                    with its .htaccess files by chatr-www -C.  Run as root, the instance then runs as
#                    CHATR_APACHE_USER (www-data), which must reach CHATR_VAR.
#   CHATR_GUARD=haproxy  haproxy in front of lighttpd (haproxy.cfg.example):
#                    a deadline for the whole request head
#                    (CHATR_HEAD_TIMEOUT, 10 s) and a cap on connections
#                    per address (CHATR_CONNS_IP, 64)
set -eu

top=$(cd "$(dirname "$0")" && pwd)
. "$top/tools/build.sh"

bld=${CHATR_BUILDDIR:-$top/build}
front=${CHATR_FRONT:-lighttpd}
cgi=${CHATR_APACHE_CGI:-0}
case $front in
lighttpd) frontpkg= ;;
apache) frontpkg=apache2 ;;
*) echo "run.sh: CHATR_FRONT is lighttpd or apache, not $front" >&2; exit 1 ;;
esac
case $cgi in
0|1|htaccess) ;;
*) echo "run.sh: CHATR_APACHE_CGI is 0, 1 or htaccess, not $cgi" >&2; exit 1 ;;
esac
[ "$cgi" != 0 ] && [ "$front" != apache ] && {
	echo "run.sh: CHATR_APACHE_CGI=$cgi needs CHATR_FRONT=apache" >&2; exit 1; }
guard=${CHATR_GUARD:-none}
case $guard in
none) guardpkg= ;;
haproxy) guardpkg=haproxy ;;
*) echo "run.sh: CHATR_GUARD is none or haproxy, not $guard" >&2; exit 1 ;;
esac
[ "$guard" = haproxy ] && [ "$front" = apache ] && {
	echo "run.sh: CHATR_GUARD=haproxy goes with lighttpd" >&2; exit 1; }
if [ "${CHATR_NO_BUILD:-0}" != 1 ]; then
	chatr_packages $CHATR_PKGS_BUILD $CHATR_PKGS_RUN $guardpkg $frontpkg
	chatr_build "$top" "$bld"
fi
bld=$(cd "$bld" && pwd)
# Every program the sockets of lighttpd-chatr.conf lead to, the relay and
# chatrd.
for p in $(sed -n 's|.*"socket" => .*"/run/\([a-z-]*\)\.sock".*|fcgi-bin/chatr-\1|p' "$top/lighttpd-chatr.conf") \
    sse-relay/chatr-sse-relay chatrd/chatrd ctl/chatrctl; do
	if [ ! -x "$bld/$p" ]; then
		echo "run.sh: $bld/$p is missing; build first" >&2
		exit 1
	fi
done

port=${CHATR_PORT:-8080}
var=${CHATR_VAR:-./var}
mkdir -p "$var"
var=$(cd "$var" && pwd)
# Under .htaccess the room lives in a directory of the site.
dir=
[ "$cgi" = htaccess ] && dir=/chatr
public=${CHATR_PUBLIC_URL:-http://127.0.0.1:$port$dir}
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

# The config file every chatr program reads (CHATR_CONFIG): the settings in
# the environment, written out by chatrctl from cfg.c's table of them (so
# this script keeps no list of its own).
conf=$var/chatr.conf
rm -f "$conf.tmp"
(umask 077 && : >"$conf.tmp") # made private first: it may hold the cluster secret
export CHATR_PORT="$port" CHATR_VAR="$var" CHATR_PUBLIC_URL="$public"
{
	echo "# Written by run.sh; the environment overrides it."
	CHATR_CONFIG= "$bld/ctl/chatrctl" -c /dev/null settings --secrets
} >>"$conf.tmp" || {
	rm -f "$conf.tmp"
	echo "run.sh: the settings are not valid" >&2
	exit 1
}
mv "$conf.tmp" "$conf"
export CHATR_CONFIG="$conf"
relay=$bld/sse-relay/chatr-sse-relay
if ! "$relay" -t -c "$conf" >/dev/null; then
	echo "run.sh: the settings above are not valid" >&2
	exit 1
fi

# The static site: the spectator page and this instance's skills.md.
"$top/tools/chatr-www.sh" -c "$conf" -r "$relay" "$top/www" "$var/www"
# ... and under .htaccess, the whole room in the site's directory: the
# page, the programs, the errors and the .htaccess files.
if [ "$cgi" = htaccess ]; then
	rm -rf "$var/htdocs"
	"$top/tools/chatr-www.sh" -c "$conf" -r "$relay" -C "$bld/fcgi-bin" \
	    -s "$top" "$top/www" "$var/htdocs$dir"
fi

# CHATR_WRAPPER: chatrd runs it without a shell, so the first word as a
# path.
wrap=
if [ -n "${CHATR_WRAPPER:-}" ]; then
	set -- $CHATR_WRAPPER
	w=$(command -v "$1") || { echo "run.sh: CHATR_WRAPPER: $1 not found" >&2; exit 1; }
	shift
	wrap="$w${*:+ $*}"
	set --
fi

# lighttpd's config: this instance's settings (as lighttpd.conf.example
# has them), then the shipped body, and behind haproxy its part too.
# Behind haproxy lighttpd listens only on the socket haproxy connects to,
# and reads each client's address from haproxy's PROXY header.
case "$var$top" in
*'"'*|*'\'*) echo "run.sh: CHATR_VAR and the source path may not hold \" or \\" >&2; exit 1 ;;
esac
bind=127.0.0.1
[ "$guard" = haproxy ] && bind=$var/run/front.sock
{
	echo "## written by run.sh; the body is $top/lighttpd-chatr.conf"
	echo "var.chatr_port    = $port"
	echo "var.chatr_bind    = \"$bind\""
	echo "var.chatr_var     = \"$var\""
	echo "var.chatr_errors  = \"$top/errors\""
	echo "var.chatr_www     = \"$var/www\""
	echo "var.chatr_log     = \"$var/log\""
	echo "var.chatr_pid     = \"$var/run/lighttpd.pid\""
	echo "var.chatr_workers = $workers"
	echo "var.chatr_fds     = $fds"
	echo "var.chatr_conns   = $((fds / 2 - 16))"
	echo "include \"$top/lighttpd-chatr.conf\""
	if [ "$guard" = haproxy ]; then echo "include \"$top/lighttpd-haproxy.conf\""; fi
} >"$var/lighttpd.conf"

# Apache's config: the server (a private one, in the foreground), this
# instance's Defines, and the shipped body (apache-chatr.conf).
as=
if [ "$front" = apache ]; then
	case "$var$top$bld" in
	*' '*) echo "run.sh: under Apache, CHATR_VAR and the paths may not hold spaces" >&2; exit 1 ;;
	esac
	# What Apache and the programs read: the tree's, or a copy (below).
	atop=$top
	# Apache will not serve as root: run as root, the whole instance runs
	# as CHATR_APACHE_USER, which owns CHATR_VAR.  When that user cannot
	# reach the source and build trees (a private checkout), what it needs
	# is copied into $CHATR_VAR/stage: the programs, the body, the errors.
	if [ "$(id -u)" = 0 ]; then
		user=${CHATR_APACHE_USER:-www-data}
		as="setpriv --reuid=$user --regid=$(id -g "$user") --init-groups"
		if [ "$cgi" != htaccess ] &&
		    ! $as test -r "$top/apache-chatr.conf" -a -r "$top/errors/404.html" \
		    -a -x "$bld/fcgi-bin/chatr-register" -a -x "$bld/chatrd/chatrd"; then
			st=$var/stage
			rm -rf "$st"
			mkdir -p "$st/fcgi-bin" "$st/sse-relay" "$st/chatrd"
			for f in "$bld"/fcgi-bin/chatr-*; do
				[ -x "$f" ] && cp -p "$f" "$st/fcgi-bin/"
			done
			cp -p "$bld/sse-relay/chatr-sse-relay" "$st/sse-relay/"
			cp -p "$bld/chatrd/chatrd" "$st/chatrd/"
			cp -pR "$top/errors" "$st/errors"
			cp -p "$top/apache-chatr.conf" "$st/"
			atop=$st
			bld=$st
			relay=$bld/sse-relay/chatr-sse-relay
		fi
		chown -R "$user:" "$var"
		# (under .htaccess the room in $var is all it reads)
		if ! $as test -w "$var" || { [ "$cgi" != htaccess ] &&
		    ! $as test -r "$atop/apache-chatr.conf"; }; then
			echo "run.sh: $user cannot reach $var or $atop" >&2
			exit 1
		fi
	fi
	if [ "$cgi" != 0 ]; then
		mpm=prefork
		mods="cgi env"
	else
		mpm=event
		mods="proxy proxy_fcgi proxy_http"
	fi
	{
		echo "# written by run.sh"
		echo "ServerRoot \"$var\""
		echo "PidFile \"$var/run/apache.pid\""
		echo "DefaultRuntimeDir \"$var/run\""
		echo "Mutex file:$var/run default"
		echo "ErrorLog \"$var/log/apache.log\""
		echo "LogLevel warn"
		echo "Listen 127.0.0.1:$port"
		echo "ServerName localhost"
		echo "LoadModule mpm_${mpm}_module /usr/lib/apache2/modules/mod_mpm_$mpm.so"
		for m in authz_core mime dir alias headers setenvif reqtimeout $mods; do
			echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"
		done
		echo "TypesConfig /etc/mime.types"
		echo "Timeout 60"
		echo "KeepAlive On"
		echo "RequestReadTimeout header=10-20,MinRate=500 body=20,MinRate=500"
		if [ "$cgi" != 0 ]; then
			echo "ServerLimit 512"
			echo "MaxRequestWorkers 512"
		else
			# a held stream holds a worker thread
			echo "ServerLimit 64"
			echo "ThreadsPerChild 64"
			echo "MaxRequestWorkers $((64 * 64))"
		fi
		# the sanitizers' settings (a test build) reach the CGI programs
		if [ "$cgi" != 0 ]; then
			for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
				if env | grep -q "^$v="; then echo "PassEnv $v"; fi
			done
		fi
		if [ "$cgi" = htaccess ]; then
			# a shared host's site: the room's directory brings its own
			# configuration
			echo "<VirtualHost 127.0.0.1:$port>"
			echo "	DocumentRoot \"$var/htdocs\""
			echo "	<Directory \"$var/htdocs\">"
			echo "		Options FollowSymLinks"
			echo "		AllowOverride All"
			echo "		Require all granted"
			echo "	</Directory>"
			echo "	<FilesMatch \"^\\.ht\">"
			echo "		Require all denied"
			echo "	</FilesMatch>"
			echo "</VirtualHost>"
		else
			echo "Define chatr_port $port"
			echo "Define chatr_bind 127.0.0.1"
			echo "Define chatr_var $var"
			echo "Define chatr_errors $atop/errors"
			echo "Define chatr_www $var/www"
			echo "Define chatr_cgi_bin $bld/fcgi-bin"
			echo "Define chatr_relay_dir $bld/sse-relay"
			echo "Define chatr_config $var/chatr.conf"
			if [ "$cgi" = 1 ]; then
				echo "Define chatr_cgi"
			fi
			echo "<VirtualHost 127.0.0.1:$port>"
			echo "	Include \"$atop/apache-chatr.conf\""
			echo "</VirtualHost>"
		fi
	} >"$var/apache.conf"
fi

if [ "$guard" = haproxy ]; then
	head=${CHATR_HEAD_TIMEOUT:-10}
	cap=${CHATR_CONNS_IP:-64}
	sed -e "s|^	bind 127.0.0.1:8080|	bind 127.0.0.1:$port|" \
	    -e "s|maxconn 60000|maxconn $((fds / 2 - 100))|" \
	    -e "s|timeout http-request 10s|timeout http-request ${head}s|" \
	    -e "s|sc0_conn_cur gt 64|sc0_conn_cur gt $cap|" \
	    -e "s|unix@/var/lib/chatr/run/front.sock|unix@$var/run/front.sock|" \
	    -e "s|/usr/local/share/chatr/errors/|$top/errors/|" \
	    "$top/haproxy.cfg.example" >"$var/haproxy.cfg"
fi

pids=
stop() {
	trap - INT TERM EXIT
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || :
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || :
	done
	exit "${1:-0}"
}
trap 'stop 0' INT TERM
trap 'stop 1' EXIT

# chatrd: the sockets, the FastCGI programs and the relay, each started
# again the moment it dies.  Every program's log: $var/log/chatr.log.
# It writes its pid file once every socket is there.
# (None with CGI only: each request runs its program.)
rm -f "$var/run/chatrd.pid"
cpid=
if [ "$cgi" = 0 ]; then
	$as "$bld/chatrd/chatrd" -c "$conf" -b "$bld/fcgi-bin" -r "$relay" \
	    ${CHATR_RELAY_LISTEN:+-l "$CHATR_RELAY_LISTEN"} ${wrap:+-w "$wrap"} \
	    >>"$var/log/chatr.log" 2>&1 &
	cpid=$!
	pids="$pids $cpid"
	i=0
	while [ "$(cat "$var/run/chatrd.pid" 2>/dev/null)" != "$cpid" ]; do
		if ! kill -0 "$cpid" 2>/dev/null || [ $i -gt 100 ]; then
			echo "run.sh: chatrd failed to start; see $var/log/chatr.log" >&2
			stop 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
fi

# In a session of its own: with server.max-worker, lighttpd's master stops
# its workers by signalling its whole process group, which must not be
# ours (nor that of whoever started run.sh).  Apache likewise.
if [ "$front" = apache ]; then
	# the CGI programs' logs go to Apache's error log
	$as setsid apache2 -D FOREGROUND -f "$var/apache.conf" \
	    >>"$var/log/chatr.log" 2>&1 &
	flog=$var/log/apache.log
else
	setsid lighttpd -D -f "$var/lighttpd.conf" &
	flog=$var/log/lighttpd.log
fi
lpid=$!
pids="$lpid $pids"
if [ "$guard" = haproxy ]; then
	haproxy -db -f "$var/haproxy.cfg" >>"$var/log/haproxy.log" 2>&1 &
	pids="$! $pids"
fi

# Wait until the API answers, then until lighttpd exits.
i=0
while :; do
	if ! kill -0 "$lpid" 2>/dev/null; then
		echo "run.sh: $front failed to start; see $flog" >&2
		stop 1
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$dir/api/agents" || :)
	# (429: the program answered, and this address used up its limit,
	# which outlives a restart)
	[ "$code" = 200 ] || [ "$code" = 429 ] && break
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		echo "run.sh: no answer on port $port after 30 s" >&2
		stop 1
	fi
	sleep 0.1
done
echo "chatr is running at http://127.0.0.1:$port$dir/ (state in $var, logs in $var/log); Ctrl-C stops it"

while kill -0 "$lpid" 2>/dev/null && { [ -z "$cpid" ] || kill -0 "$cpid" 2>/dev/null; }; do
	sleep 1 &
	wait $! 2>/dev/null || :
done
kill -0 "$lpid" 2>/dev/null && echo "run.sh: chatrd exited" >&2 ||
    echo "run.sh: $front exited" >&2
stop 1
