#!/bin/bash
# api-bench.sh -- request rates of chatr's REST endpoints through lighttpd,
# side by side with the original chatr (Node + Express + PostgreSQL) in the
# same run, interleaved.
#
# Both servers start empty and get the same 40 agents and 120 messages (3
# from each, so all 40 are online); then wrk (2 threads, limits lifted)
# runs each endpoint at each connection count, RUNS times, chatr and the
# peer in turn:
#   agents     GET /api/agents
#   heartbeat  POST /api/heartbeat (the 40 keys in turn)
#   history    GET /api/messages (the newest 50)
#   post       POST /api/messages (the 40 keys in turn; last, as it grows
#              the store)
# and, with ENDPOINTS naming them (chatr only: PEER=none), the same through
# MCP (POST /mcp, 2026-07-28): mcp-list (tools/list), mcp-agents
# (chatr_agents) and mcp-post (chatr_send, the 40 keys in turn).
# For each run: requests/s, p50, p99, non-2xx; the CPU each part used (%
# of one core: lighttpd, the FastCGI programs, the relay; node and
# PostgreSQL for the peer) and the system calls each part made per request
# (perf's raw_syscalls:sys_enter, counted while wrk runs).  Prints the
# medians; raw lines in $OUT/raw.txt.
#
# usage: bench/api-bench.sh [BUILD-DIR]     (default ./build)
# Settings (environment):
#   RUNS (3)  SECONDS_EACH (10)  CONNS ("16 64")
#   ENDPOINTS ("agents heartbeat history post")
#   PEER (node: bench/peer-node.sh; none: chatr alone)
#   CHATR_SRC (this tree: whose run.sh starts the build)
#   OUT (/tmp/chatr-apibench/out-<date>)  PORT (18480)
#   SYSCALLS (1; 0 skips the perf counting)
#   FRONT (lighttpd; apache runs chatr under Apache, mod_proxy_fcgi: the
#     column still says "lighttpd" for the front end's share)
#   REQ_LIMIT (off): chatr's CHATR_LIMIT_REQUESTS_IP; e.g. 100000000/60 to
#     count every request against the address limit without refusing any
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
SRC=${CHATR_SRC:-$top}
bld=$(cd "${1:-$top/build}" && pwd) || exit 1
runs=${RUNS:-3}
secs=${SECONDS_EACH:-10}
conns_list=${CONNS:-16 64}
endpoints=${ENDPOINTS:-agents heartbeat history post}
peer=${PEER:-node}
port=${PORT:-18480}
peerport=${PEER_PORT:-8080}
syscalls=${SYSCALLS:-1}
OUT=${OUT:-/tmp/chatr-apibench/out-$(date +%Y%m%d-%H%M%S)}
HZ=$(getconf CLK_TCK)
log() { echo "api-bench: $*" >&2; }
command -v wrk >/dev/null || { log "needs wrk (apt-get install wrk)"; exit 1; }
if [ "$syscalls" = 1 ] && ! perf stat -e raw_syscalls:sys_enter true \
    >/dev/null 2>&1; then
	log "perf cannot count system calls here; SYSCALLS=0"
	syscalls=0
fi
mkdir -p "$OUT"
T=$OUT/work
rm -rf "$T" && mkdir -p "$T"

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, kernel $(uname -r)"
	echo "chatr: $bld (run.sh of $SRC at $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null))"
	echo "peer: $peer; wrk -t2, $secs s per run, $runs runs, connections: $conns_list"
} | tee "$OUT/machine.txt" >&2

cleanup() {
	bench_stop
	[ "$peer" = node ] && "$here/peer-node.sh" stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the servers ---------------------------------------------------------
VAR=$T/var
bench_start "$SRC" "$bld" "$VAR" "$port" "$T/run.log" \
    CHATR_LIMIT_REQUESTS_IP="${REQ_LIMIT:-off}" CHATR_LIMIT_REGISTER_IP=off \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_MSG_VERIFIED=off \
    CHATR_LIMIT_STREAMS_IP=0 CHATR_FRONT="${FRONT:-lighttpd}" || exit 1
case ${FRONT:-lighttpd} in
apache) LPID=$(cat "$VAR/run/apache.pid"); FRONT_PROC=apache2 ;;
*) LPID=$(cat "$VAR/run/lighttpd.pid"); FRONT_PROC=lighttpd ;;
esac
CPID=$(cat "$VAR/run/chatrd.pid")
RPID=$(pgrep -f "chatr-sse-relay -c $VAR/chatr.conf" | head -n1)
if [ "$peer" = node ]; then
	PEER_PORT=$peerport "$here/peer-node.sh" fresh || exit 1
	NPID=$(cat /tmp/peerbench/chatr.pid)
fi

# seed BASE FILE: 40 agents, 3 messages each (120); their keys into FILE
seed() {
	local base=$1 i k r
	: >"$2"
	for i in $(seq 40); do
		r=$(curl -s "$base/api/register" -H 'Content-Type: application/json' \
		    -d "{\"name\":\"bench_$i\"}")
		k=$(echo "$r" | sed -n 's/.*"apiKey":"\([^"]*\)".*/\1/p')
		[ -n "$k" ] || { log "register at $base: $r"; exit 1; }
		echo "$k" >>"$2"
	done
	for r in 1 2 3; do
		while read -r k; do
			curl -s -o /dev/null "$base/api/messages" \
			    -H "Authorization: Bearer $k" \
			    -H 'Content-Type: application/json' \
			    -d "{\"content\":\"seed message $r\"}"
		done <"$2"
	done
}
seed "http://127.0.0.1:$port" "$T/keys.chatr"
[ "$peer" = node ] && seed "http://127.0.0.1:$peerport" "$T/keys.node"

# ---- measurements ----------------------------------------------------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(ticks "$p"))); done; echo $t; }
# The processes of each part, comma-separated.
parts_chatr() {
	local l f=
	l=$(echo "$LPID" $(pgrep -P "$LPID" -x "$FRONT_PROC") | tr ' ' ,)
	for c in $(pgrep -P "$CPID"); do
		[ "$c" = "$RPID" ] || f="$f${f:+,}$c"
	done
	echo "lighttpd=$l fcgi=$f relay=$RPID"
}
parts_node() {
	echo "node=$NPID postgres=$(pgrep -u postgres | paste -sd,)"
}

# run SYSTEM EP CONNS RUN: one wrk run, one raw line
run() {
	local sys=$1 ep=$2 c=$3 r=$4 base keys mode path parts p name pids
	local -A t0 t1
	if [ "$sys" = chatr ]; then
		base=http://127.0.0.1:$port
		parts=$(parts_chatr)
	else
		base=http://127.0.0.1:$peerport
		parts=$(parts_node)
	fi
	keys=$(paste -sd, "$T/keys.$sys")
	case $ep in
	agents) mode=get path=/api/agents ;;
	history) mode=get path=/api/messages ;;
	heartbeat) mode=heartbeat path= ;;
	post) mode=post path= ;;
	mcp-*) mode=mcp path= ;;
	esac
	local perfs=()
	for p in $parts; do
		name=${p%%=*} pids=${p#*=}
		t0[$name]=$(sum_ticks ${pids//,/ })
		if [ "$syscalls" = 1 ] && [ -n "$pids" ]; then
			# (in a session of its own: perf signals its group)
			setsid perf stat -x, -e raw_syscalls:sys_enter -p "$pids" \
			    -o "$T/perf.$name" -- sleep "$secs" >/dev/null 2>&1 &
			perfs+=($!)
		fi
	done
	WRK_MODE=$mode WRK_PATH=$path WRK_KEYS=$keys WRK_TOOL=${ep#mcp-} wrk -t2 -c"$c" \
	    -d"${secs}s" -s "$here/api.lua" "$base" >"$T/wrk.out" 2>&1
	[ ${#perfs[@]} -gt 0 ] && wait "${perfs[@]}"
	local line req
	line=$(grep '^WRK ' "$T/wrk.out" | sed 's/^WRK //')
	[ -n "$line" ] || { log "wrk failed:"; cat "$T/wrk.out" >&2; line="requests=0"; }
	req=$(echo "$line" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
	for p in $parts; do
		name=${p%%=*} pids=${p#*=}
		t1[$name]=$(sum_ticks ${pids//,/ })
		line="$line ${name}_cpu=$(awk -v a="${t0[$name]}" -v b="${t1[$name]}" \
		    -v hz="$HZ" -v s="$secs" 'BEGIN {printf "%.0f", 100 * (b - a) / hz / s}')"
		if [ "$syscalls" = 1 ] && [ -f "$T/perf.$name" ]; then
			line="$line ${name}_sys=$(awk -F, -v n="$req" \
			    '$3 ~ /raw_syscalls/ {printf "%.1f", (n > 0 ? $1 / n : 0)}' \
			    "$T/perf.$name")"
			rm -f "$T/perf.$name"
		fi
	done
	echo "system=$sys ep=$ep conns=$c run=$r $line" | tee -a "$OUT/raw.txt" >&2
}

systems=chatr
[ "$peer" = node ] && systems="chatr node"
for ep in $endpoints; do
	for c in $conns_list; do
		for r in $(seq "$runs"); do
			for sys in $systems; do
				run "$sys" "$ep" "$c" "$r"
			done
		done
	done
done

# ---- the table -------------------------------------------------------------
median() { # FIELD SYSTEM EP CONNS
	awk -v f="$1" -v s="$2" -v e="$3" -v c="$4" '
	$1 == "system=" s && $2 == "ep=" e && $3 == "conns=" c {
		for (i = 4; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == f) print kv[2] + 0
		}
	}' "$OUT/raw.txt" | sort -n | awk '{v[NR] = $1}
	END {print NR ? v[int((NR + 1) / 2)] : "-"}'
}
{
	echo
	echo "| endpoint | conns | system | req/s | p50 ms | p99 ms | non-2xx | CPU % (parts) | syscalls/req (parts) |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for ep in $endpoints; do
		for c in $conns_list; do
			for sys in $systems; do
				if [ "$sys" = chatr ]; then
					pp="lighttpd fcgi relay"
				else
					pp="node postgres"
				fi
				cpu= sc=
				for p in $pp; do
					cpu="$cpu${cpu:+ / }$(median ${p}_cpu $sys $ep $c)"
					sc="$sc${sc:+ / }$(median ${p}_sys $sys $ep $c)"
				done
				echo "| $ep | $c | $sys | $(median rps $sys $ep $c) | $(median p50_ms $sys $ep $c) | $(median p99_ms $sys $ep $c) | $(median non2xx $sys $ep $c) | $cpu | $sc |"
			done
		done
	done
} | tee "$OUT/table.md"
