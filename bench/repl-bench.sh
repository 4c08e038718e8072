#!/bin/bash
# repl-bench.sh -- issue 11's figures: one room on several nodes.
#
#   repl-bench.sh [lag] [post] [fanout] [traffic]      (default: all four)
#
#   lag      replication lag: fanout posts to the master and reads 10
#            streams on a replica, at 10 and at 100 messages/s; the same
#            with the streams on the master, side by side.
#   post     POST /api/messages with wrk (16 connections) on the master of
#            three nodes (quorum acks), through a replica (forwarded), and
#            on a single node.
#   fanout   1,000 streams on each of three nodes (three fanout clients at
#            once, each posting a third of 21 messages/s to the master),
#            and 1,000 on a single node at 21/s.
#   traffic  what the master's node sends to the replicas per message, and
#            its CPU per message, with 1, 2 and 3 nodes.
#
# Settings (environment): BENCH_DIR (/tmp/chatr-repl-bench), RUNS (3),
# SECS (wrk seconds, 10), LAG_SECS (posting seconds of a lag run, 15),
# BENCH_BUILD (an existing build tree; else one is built in BENCH_DIR).
# Each group is new (empty CHATR_VARs), limits off, on loopback ports from
# BENCH_PORT (18100).  The raw lines go to $BENCH_DIR/out/raw.txt; the
# medians are printed at the end.
set -u

here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/chatr-repl-bench}
RUNS=${RUNS:-3}
SECS=${SECS:-10}
LAG_SECS=${LAG_SECS:-15}
BASE_PORT=${BENCH_PORT:-18100}
OUT=$BENCH_DIR/out
SECRET=bench-cluster-secret-0123456789
HZ=$(getconf CLK_TCK)
parts=${*:-lag post fanout traffic}

log() { echo "# $*" >&2; }
mkdir -p "$OUT"
: >"$OUT/raw.txt"
command -v wrk >/dev/null || { log "needs wrk (apt-get install wrk)"; exit 1; }

# ---- build -------------------------------------------------------------------
if [ -n "${BENCH_BUILD:-}" ]; then
	bld=$BENCH_BUILD
else
	bld=$BENCH_DIR/build
	mkdir -p "$bld"
	[ -f "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi) >/dev/null 2>&1
	(cd "$bld" && { [ -f Makefile ] || "$SRC/configure" -q CFLAGS="-O2 -g"; } &&
	    make -j2 >/dev/null) || { log "build failed"; exit 1; }
fi
FANOUT=$BENCH_DIR/fanout
gcc -O2 -std=gnu99 -Wall -Wextra -o "$FANOUT" "$here/fanout.c" ||
    { log "fanout: build failed"; exit 1; }

# ---- nodes ---------------------------------------------------------------------
declare -A RUNPID
nport() { echo $((BASE_PORT + 10 * $1)); }
rport() { echo $((BASE_PORT + 10 * $1 + 5)); }
nvar() { echo "$BENCH_DIR/node$1"; }

# group_start N: N nodes (1: a single node, no replication), fresh; sets M
# (the master's number) once every node answers its health with 200.
group_start() {
	local n=$1 i j peers repl
	group_stop
	for i in $(seq "$n"); do
		rm -rf "$(nvar "$i")"
		mkdir -p "$(nvar "$i")"
		peers=
		for j in $(seq "$n"); do
			[ "$j" = "$i" ] || peers="$peers${peers:+,}127.0.0.1:$(rport "$j")"
		done
		repl=()
		[ "$n" -gt 1 ] && repl=(CHATR_REPL_LISTEN="127.0.0.1:$(rport "$i")"
		    CHATR_REPL_PEERS="$peers" CHATR_CLUSTER_SECRET="$SECRET"
		    CHATR_NODE_URL="http://127.0.0.1:$(nport "$i")")
		env CHATR_NO_BUILD=1 CHATR_BUILDDIR="$bld" CHATR_VAR="$(nvar "$i")" \
		    CHATR_PORT="$(nport "$i")" CHATR_LOG_LEVEL=warn \
		    CHATR_LIMIT_REQUESTS_IP=off CHATR_LIMIT_REGISTER_IP=off \
		    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_MSG_VERIFIED=off \
		    CHATR_LIMIT_STREAMS_IP=0 "${repl[@]}" \
		    "$SRC/run.sh" >"$OUT/run$i.log" 2>&1 </dev/null &
		RUNPID[$i]=$!
	done
	M=
	for j in $(seq 600); do
		local up=0 role out
		for i in $(seq "$n"); do
			out=$(curl -s -m 2 -w '\n%{http_code}' \
			    "http://127.0.0.1:$(nport "$i")/api/health")
			role=
			[ "${out##*$'\n'}" = 200 ] && role=$(printf '%s' "$out" |
			    sed -n 's/.*"role":"\([a-z]*\)".*/\1/p' | head -n 1)
			[ -n "$role" ] && up=$((up + 1))
			[ "$role" = master ] || [ "$role" = single ] && M=$i
		done
		[ "$up" = "$n" ] && [ -n "$M" ] && return 0
		sleep 0.2
	done
	log "the group of $n did not form"
	return 1
}

group_stop() {
	local i
	for i in "${!RUNPID[@]}"; do
		kill -TERM "${RUNPID[$i]}" 2>/dev/null
	done
	for i in "${!RUNPID[@]}"; do
		wait "${RUNPID[$i]}" 2>/dev/null
		unset "RUNPID[$i]"
	done
	return 0
}
trap group_stop EXIT
trap 'exit 130' INT TERM

url() { echo "http://127.0.0.1:$(nport "$1")"; }
addr() { echo "127.0.0.1:$(nport "$1")"; }
result() { sed -n 's/^RESULT //p' "$1"; }
# key NAME LINE: a key=value of a raw line
key() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# median FILTER KEY: the median of KEY over the raw lines matching FILTER
median() {
	grep -- "$1" "$OUT/raw.txt" | tr ' ' '\n' | sed -n "s/^$2=//p" | sort -g |
	    awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2)
	    print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

raw() { echo "$*" | tee -a "$OUT/raw.txt" >&2; }

# node_pids N: every process of node N
node_pids() { pgrep -f "$(nvar "$1")/" | paste -sd' '; }
ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $t
}

# register a few agents on the master; their keys, comma-separated
keys() {
	local i k ks=
	for i in $(seq 16); do
		k=$(curl -s "$(url "$M")/api/register" -H 'Content-Type: application/json' \
		    -d "{\"name\":\"wrk_$RANDOM$i\"}" | jq -r '.agent.apiKey // empty')
		[ -n "$k" ] && ks="$ks${ks:+,}$k"
	done
	echo "$ks"
}

# ---- lag -----------------------------------------------------------------------
bench_lag() {
	local r run where s
	group_start 3 || return 1
	R=$(( M % 3 + 1 ))
	log "lag: master node $M, streams on replica node $R and on the master"
	for r in 10 100; do
		for run in $(seq "$RUNS"); do
			for where in replica master; do
				[ "$where" = replica ] && s=$R || s=$M
				"$FANOUT" -q -a "$(addr "$M")" -s "$(addr "$s")" -n 10 \
				    -r "$r" -d "$LAG_SECS" -w 5 >"$OUT/lag.$r.$run.$where" 2>&1
				raw "part=lag rate=$r where=$where run=$run $(result "$OUT/lag.$r.$run.$where")"
			done
		done
	done
}

# ---- post ----------------------------------------------------------------------
# busy: the machine's busy and total jiffies, from /proc/stat
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }

wrk_post() { # TAG NODE KEYS NODES: the machine's busy share and the
	# nodes' CPU per request go with wrk's line
	local line b0 b1 t0 t1 pids="" i n
	for i in $(seq "$4"); do pids="$pids $(node_pids "$i")"; done
	b0=$(busy)
	t0=$(ticks $pids)
	WRK_MODE=post WRK_KEYS=$3 wrk -t2 -c16 -d"${SECS}s" -s "$here/api.lua" \
	    "$(url "$2")" >"$OUT/wrk.$1" 2>&1
	t1=$(ticks $pids)
	b1=$(busy)
	line=$(sed -n 's/^WRK //p' "$OUT/wrk.$1")
	n=$(key requests "$line")
	raw "part=post where=$1 $line busy_pct=$(echo "$b0 $b1" | awk '{printf "%.0f", 100 * ($3 - $1) / ($4 - $2)}') nodes_cpu_ms_per_req=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="${n:-0}" 'BEGIN {printf "%.3f", (n > 0 ? 1000 * (b - a) / hz / n : 0)}')"
}

bench_post() {
	local run ks
	group_start 3 || return 1
	R=$(( M % 3 + 1 ))
	ks=$(keys)
	for run in $(seq "$RUNS"); do
		wrk_post "master3 run=$run" "$M" "$ks" 3
		wrk_post "replica3 run=$run" "$R" "$ks" 3
	done
	group_start 1 || return 1
	ks=$(keys)
	for run in $(seq "$RUNS"); do
		wrk_post "single run=$run" "$M" "$ks" 1
	done
}

# ---- fanout --------------------------------------------------------------------
bench_fanout() {
	local run i pids ranges=(2-84 85-169 170-254)
	for run in $(seq "$RUNS"); do
		group_start 3 || return 1
		pids=()
		for i in 1 2 3; do
			"$FANOUT" -q -a "$(addr "$M")" -s "$(addr "$i")" -n 1000 \
			    -S "${ranges[$((i - 1))]}" -r 7 -d 20 -w 10 -t 120 \
			    >"$OUT/fan3.$run.$i" 2>&1 &
			pids+=($!)
		done
		wait "${pids[@]}"
		for i in 1 2 3; do
			[ "$i" = "$M" ] && w=master || w=replica
			raw "part=fanout nodes=3 node=$i where=$w run=$run $(result "$OUT/fan3.$run.$i")"
		done
	done
	for run in $(seq "$RUNS"); do
		group_start 1 || return 1
		"$FANOUT" -q -a "$(addr "$M")" -n 1000 -r 21 -d 20 -w 10 -t 120 \
		    >"$OUT/fan1.$run" 2>&1
		raw "part=fanout nodes=1 where=single run=$run $(result "$OUT/fan1.$run")"
	done
}

# ---- traffic -------------------------------------------------------------------
# sent_bytes: bytes the master's node has sent on its replication
# connections (its own port, or the replicas' ports), from ss.
sent_bytes() {
	local pids ports i
	pids=" $(node_pids "$M") "
	ports=" $(rport "$M") "
	for i in $(seq "$1"); do ports="$ports$(rport "$i") "; done
	ss -tinpH state established 2>/dev/null | awk -v pids="$pids" \
	    -v ports="$ports" -v me="$(rport "$M")" '
	/users:/ {
		split($3, l, ":"); split($4, r, ":");
		own = 0
		while (match($0, /pid=[0-9]+/)) {
			p = substr($0, RSTART + 4, RLENGTH - 4)
			if (index(pids, " " p " ")) own = 1
			$0 = substr($0, RSTART + RLENGTH)
		}
		take = own && (l[2] == me || index(ports, " " r[2] " "))
		next
	}
	take && /bytes_sent:/ {
		match($0, /bytes_sent:[0-9]+/)
		s += substr($0, RSTART + 11, RLENGTH - 11)
		take = 0
	}
	END { printf "%d\n", s }'
}

bench_traffic() {
	local n run b0 b1 t0 t1 pids msgs=2000
	for n in 1 2 3; do
		for run in $(seq "$RUNS"); do
			group_start "$n" || return 1
			sleep 2
			pids=$(node_pids "$M")
			b0=$(sent_bytes "$n")
			t0=$(ticks $pids)
			"$FANOUT" -q -a "$(addr "$M")" -n 1 -m "$msgs" -r 100 -w 5 \
			    >"$OUT/traffic.$n.$run" 2>&1
			b1=$(sent_bytes "$n")
			t1=$(ticks $pids)
			raw "part=traffic nodes=$n run=$run msgs=$msgs bytes_per_msg=$(( (b1 - b0) / msgs )) cpu_ms_per_msg=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v m="$msgs" 'BEGIN {printf "%.3f", 1000 * (b - a) / hz / m}') $(result "$OUT/traffic.$n.$run")"
		done
	done
}

{
	echo "machine: $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "chatr: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null), build $bld; runs: $RUNS"
} | tee "$OUT/machine.txt" >&2

for p in $parts; do
	"bench_$p" || log "$p failed"
done
group_stop

# ---- the table -----------------------------------------------------------------
echo
cat "$OUT/machine.txt"
if grep -q part=lag "$OUT/raw.txt"; then
	echo
	echo "replication lag (post on the master -> event on a stream), ms, medians of $RUNS"
	printf '  %-22s %8s %8s %8s %8s\n' "" p50 p99 max missing
	for r in 10 100; do
		for w in master replica; do
			f="part=lag rate=$r where=$w "
			printf '  %-22s %8s %8s %8s %8s\n' "$r msg/s, $w" \
			    "$(median "$f" lat_p50_ms)" "$(median "$f" lat_p99_ms)" \
			    "$(median "$f" lat_max_ms)" "$(median "$f" missing)"
		done
	done
fi
if grep -q part=post "$OUT/raw.txt"; then
	echo
	echo "POST /api/messages, wrk -c16 ${SECS} s, medians of $RUNS"
	printf '  %-12s %9s %8s %8s %8s %8s %14s\n' "" req/s p50_ms p99_ms non2xx \
	    busy_% cpu_ms/req
	for w in single master3 replica3; do
		f="where=$w "
		printf '  %-12s %9s %8s %8s %8s %8s %14s\n' "$w" "$(median "$f" rps)" \
		    "$(median "$f" p50_ms)" "$(median "$f" p99_ms)" \
		    "$(median "$f" non2xx)" "$(median "$f" busy_pct)" \
		    "$(median "$f" nodes_cpu_ms_per_req)"
	done
	echo "  (busy_%: the machine's, both cores; cpu_ms/req: every process of the nodes)"
fi
if grep -q part=fanout "$OUT/raw.txt"; then
	echo
	echo "fan-out, 1,000 streams a node, 21 msg/s in all, medians of $RUNS"
	printf '  %-22s %6s %9s %9s %8s %8s %8s\n' "" held expected received missing p50_ms p99_ms
	for w in "nodes=1 where=single" "nodes=3 node=[0-9] where=master" \
	    "nodes=3 node=[0-9] where=replica"; do
		f="part=fanout $w "
		printf '  %-22s %6s %9s %9s %8s %8s %8s\n' "${w#* where=} (${w%% *})" \
		    "$(median "$f" held)" "$(median "$f" expected)" \
		    "$(median "$f" received)" "$(median "$f" missing)" \
		    "$(median "$f" lat_p50_ms)" "$(median "$f" lat_p99_ms)"
	done
fi
if grep -q part=traffic "$OUT/raw.txt"; then
	echo
	echo "the master's replication traffic and CPU, per message (100 msg/s), medians of $RUNS"
	printf '  %-10s %14s %16s %10s\n' nodes bytes_sent/msg master_cpu_ms/msg ack_p50_ms
	for n in 1 2 3; do
		f="part=traffic nodes=$n "
		printf '  %-10s %14s %16s %10s\n' "$n" "$(median "$f" bytes_per_msg)" \
		    "$(median "$f" cpu_ms_per_msg)" "$(median "$f" ack_p50_ms)"
	done
fi
