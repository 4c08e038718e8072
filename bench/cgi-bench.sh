#!/bin/bash
# cgi-bench.sh -- GET /api/agents and POST /api/heartbeat through lighttpd
# with wrk, limits lifted: requests/s and p99 latency, each endpoint as a
# FastCGI program (the normal setup) and as a plain CGI program (one
# process per request), side by side in the same run.  Medians of RUNS
# runs of SECONDS each.
#
# usage: bench/cgi-bench.sh [BUILD-DIR]     (default ./build; RUNS=3 SECONDS=10)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bld=$(cd "${1:-$top/build}" && pwd)
runs=${RUNS:-3}
secs=${SECONDS_EACH:-10}
conns=${CONNS:-32}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

T=$(mktemp -d /tmp/chatr-cgibench.XXXXXX)
port=$((20000 + RANDOM % 20000))
cgiport=$((port + 1))
cleanup() {
	[ -n "${cgipid:-}" ] && kill "$cgipid" 2>/dev/null
	[ -n "${runpid:-}" ] && kill "$runpid" 2>/dev/null
	wait 2>/dev/null
	# CGI programs still answering a request wrk gave up on
	for i in $(seq 50); do
		pgrep -f "$T/cgi/" >/dev/null || break
		sleep 0.1
	done
	rm -rf "$T"
}
trap cleanup EXIT

CHATR_NO_BUILD=1 CHATR_BUILDDIR=$bld CHATR_VAR=$T/var CHATR_PORT=$port \
    CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LOG_LEVEL=warn \
    "$top/run.sh" >"$T/run.log" 2>&1 &
runpid=$!
for i in $(seq 100); do
	grep -q "chatr is running" "$T/run.log" && break
	sleep 0.1
done
base=http://127.0.0.1:$port
key=$(curl -s "$base/api/register" -d '{"name":"bench"}' | sed 's/.*"apiKey":"\([^"]*\)".*/\1/')
for i in $(seq 1 20); do
	k=$(curl -s "$base/api/register" -d "{\"name\":\"online$i\"}" | sed 's/.*"apiKey":"\([^"]*\)".*/\1/')
	curl -s -o /dev/null -X POST -H "Authorization: Bearer $k" -H 'Content-Length: 0' "$base/api/heartbeat"
done

# The same programs as plain CGI behind a second lighttpd.
mkdir -p "$T/cgi/api"
ln -s "$bld/fcgi-bin/chatr-agents" "$T/cgi/api/agents"
ln -s "$bld/fcgi-bin/chatr-heartbeat" "$T/cgi/api/heartbeat"
cat >"$T/cgi.conf" <<CONF
server.modules += ( "mod_cgi", "mod_setenv" )
server.port = $cgiport
server.bind = "127.0.0.1"
server.document-root = "$T/cgi"
server.errorlog = "$T/cgi.log"
server.max-fds = 4096
cgi.assign = ( "" => "" )
setenv.add-environment = ( "CHATR_CONFIG" => "$T/var/chatr.conf" )
CONF
lighttpd -D -f "$T/cgi.conf" &
cgipid=$!
sleep 0.5

cat >"$T/heartbeat.lua" <<LUA
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA

# bench NAME URL [LUA]: prints "req/s p99-ms non-2xx"
bench() {
	local out bad
	out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency ${3:+-s "$3"} "$2" 2>&1)
	bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	local rps p99
	rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}')
	echo "$rps $p99 ${bad:-0}"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-34s %12s %10s %8s\n' "configuration ($conns connections)" "req/s" "p99 ms" "non-2xx"
for cfg in "GET /api/agents, FastCGI|$base/api/agents|" \
    "GET /api/agents, CGI|http://127.0.0.1:$cgiport/api/agents|" \
    "POST /api/heartbeat, FastCGI|$base/api/heartbeat|$T/heartbeat.lua" \
    "POST /api/heartbeat, CGI|http://127.0.0.1:$cgiport/api/heartbeat|$T/heartbeat.lua"; do
	IFS='|' read -r name url lua <<<"$cfg"
	: >"$T/r"
	for r in $(seq "$runs"); do
		bench "$name" "$url" "$lua" >>"$T/r"
	done
	printf '%-34s %12s %10s %8s\n' "$name" "$(cut -d' ' -f1 "$T/r" | median)" \
	    "$(cut -d' ' -f2 "$T/r" | median)" "$(cut -d' ' -f3 "$T/r" | paste -sd+ | bc)"
done
