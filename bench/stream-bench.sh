#!/bin/bash
# stream-bench.sh -- chatr's streaming benchmark.
#
# Builds chatr (from a snapshot of this tree, so concurrent edits cannot
# disturb a long run) and the load client bench/fanout.c, then runs each
# configuration RUNS times, each on a fresh private instance started with
# run.sh, and prints a table of medians.  Raw output: $BENCH_OUT.
#
# usage: bench/stream-bench.sh [CONFIG ...]
#   configurations: a a-direct b b-direct c c-direct d d-direct g  (default: all)
#     a   1,000 streams, 20 messages/s, through lighttpd
#     b   5,000 streams, 10 messages/s, through lighttpd
#     c   the most streams lighttpd can hold (BENCH_C_STREAMS), 1 message/s
#     d   1,000 streams connecting at once, each getting a 100-message history
#     *-direct  the same straight to the relay's TCP listener (posts still
#               through lighttpd)
#     g   POST /api/messages throughput with wrk (limits lifted)
#
# Settings (environment):
#   BENCH_RUNS (3)  BENCH_DURATION (20 s of posting per run)
#   BENCH_PORT (18380; the relay's TCP listener is BENCH_PORT+1)
#   BENCH_DIR (/tmp/chatr-bench)  BENCH_BUILD ($BENCH_DIR/build)
#   BENCH_OUT ($BENCH_DIR/out-<date>)
#   BENCH_SNAPSHOT (1; 0 builds and runs this tree in place)
#   BENCH_NO_BUILD (0; 1 reuses BENCH_BUILD as it is)
#   BENCH_FRONT (lighttpd; apache runs every configuration under Apache)
#   BENCH_C_STREAMS (10000)  BENCH_C_DIRECT_STREAMS (10000)
#   BENCH_WRK_CONNS ("4 16 64")  BENCH_WRK_SECONDS (10)
#   BENCH_PERF (0; 1 records perf profiles of lighttpd and the relay
#     during posting into $BENCH_OUT/NAME.RUN.perf.txt)
#   BENCH_QUIET_PCT (25): before each run wait (at most BENCH_QUIET_WAIT
#     seconds, 300) until other processes use less than this % of one core
set -u

here=$(cd "$(dirname "$0")" && pwd)
tree=$(dirname "$here")
RUNS=${BENCH_RUNS:-3}
DUR=${BENCH_DURATION:-20}
PORT=${BENCH_PORT:-18380}
# BENCH_FRONT=apache: the same under Apache (CHATR_FRONT=apache: mod_proxy_http
# to the relay, mod_proxy_fcgi to the programs) in place of lighttpd
FRONT=${BENCH_FRONT:-lighttpd}
case $FRONT in
lighttpd) FRONT_PROC=lighttpd ;;
apache) FRONT_PROC=apache2 ;;
*) echo "BENCH_FRONT is lighttpd or apache" >&2; exit 2 ;;
esac
RPORT=$((PORT + 1))
DIR=${BENCH_DIR:-/tmp/chatr-bench}
BLD=${BENCH_BUILD:-$DIR/build}
OUT=${BENCH_OUT:-$DIR/out-$(date +%Y%m%d-%H%M%S)}
C_STREAMS=${BENCH_C_STREAMS:-10000}
C_DIRECT=${BENCH_C_DIRECT_STREAMS:-10000}
WRK_CONNS=${BENCH_WRK_CONNS:-4 16 64}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
QUIET_PCT=${BENCH_QUIET_PCT:-25}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}
HZ=$(getconf CLK_TCK)

configs=${*:-a a-direct b b-direct c c-direct d d-direct g}
mkdir -p "$DIR" "$OUT"
log() { echo "stream-bench: $*" >&2; }

# ---- build -------------------------------------------------------------
if [ "${BENCH_SNAPSHOT:-1}" = 1 ]; then
	SRC=$DIR/src
else
	SRC=$tree
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	if [ "$SRC" != "$tree" ]; then
		log "snapshot of $tree in $SRC"
		rm -rf "$SRC" && mkdir -p "$SRC"
		(cd "$tree" && tar --exclude=./build --exclude=./.git \
		    --exclude=./autom4te.cache --exclude='./var' -cf - .) |
		    tar -C "$SRC" -xf - || exit 1
	fi
	log "building chatr in $BLD"
	mkdir -p "$BLD"
	# a build tree configured for another source tree is started afresh
	if [ -f "$BLD/Makefile" ] && [ "$(sed -n 's/^abs_srcdir = //p' \
	    "$BLD/Makefile")" != "$(cd "$SRC" && pwd)" ]; then
		log "$BLD was configured for another tree; reconfiguring"
		rm -rf "$BLD" && mkdir -p "$BLD"
	fi
	if [ ! -f "$BLD/Makefile" ]; then
		(cd "$BLD" && "$SRC/configure" -q) >&2 || exit 1
	fi
	make -C "$BLD" -j"$(nproc)" >"$OUT/build.log" 2>&1 ||
	    { cat "$OUT/build.log" >&2; exit 1; }
	gcc -O2 -std=gnu99 -Wall -Wextra -o "$BLD/fanout" "$SRC/bench/fanout.c" \
	    2>/dev/null || gcc -O2 -std=gnu99 -Wall -Wextra -o "$BLD/fanout" \
	    "$here/fanout.c" || exit 1
fi
FANOUT=$BLD/fanout
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GB RAM, kernel $(uname -r), ulimit -Hn $(ulimit -Hn)"
	echo "front: $FRONT, $(if [ "$FRONT" = apache ]; then apache2 -v 2>&1 | head -n1; else lighttpd -v 2>&1 | head -n1; fi)"
	echo "source: $tree at $(git -C "$tree" rev-parse --short HEAD 2>/dev/null)$(git -C "$tree" status --porcelain 2>/dev/null | grep -qv '^?? bench/' && echo ' + uncommitted changes')"
	echo "runs: $RUNS per configuration, $DUR s of posting per run"
} | tee "$OUT/machine.txt" >&2

# ---- one instance ------------------------------------------------------
RUNPID=
stop_instance() {
	if [ -n "$RUNPID" ]; then
		kill -TERM "$RUNPID" 2>/dev/null
		wait "$RUNPID" 2>/dev/null
		RUNPID=
	fi
}
trap 'stop_instance; exit 130' INT TERM
trap 'stop_instance' EXIT

start_instance() {
	VAR=$DIR/var
	rm -rf "$VAR"
	mkdir -p "$VAR"
	env CHATR_PORT=$PORT CHATR_VAR="$VAR" CHATR_NO_BUILD=1 \
	    CHATR_BUILDDIR="$BLD" CHATR_LIMIT_MSG_UNVERIFIED=off \
	    CHATR_LIMIT_MSG_VERIFIED=off CHATR_LIMIT_REQUESTS_IP=off \
	    CHATR_LIMIT_REGISTER_IP=off CHATR_LIMIT_STREAMS_IP=0 \
	    CHATR_RELAY_LISTEN=127.0.0.1:$RPORT CHATR_FRONT="$FRONT" \
	    "$SRC/run.sh" >"$DIR/run.log" 2>&1 </dev/null &
	RUNPID=$!
	local i=0
	until grep -q 'chatr is running' "$DIR/run.log" 2>/dev/null; do
		if ! kill -0 "$RUNPID" 2>/dev/null || [ $i -gt 300 ]; then
			log "the instance did not start:"
			cat "$DIR/run.log" "$VAR/log/$FRONT.log" >&2
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	LPID=$(cat "$VAR/run/$FRONT.pid")
	CPID=$(cat "$VAR/run/chatrd.pid")
	RPID=$(pgrep -f "chatr-sse-relay -c $VAR/chatr.conf" | head -n1)
	export LPID RPID CPID FRONT_PROC
}

# ---- measurements ------------------------------------------------------
ticks() { # utime+stime of pid $1 (clock ticks)
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
rss_kb() {
	awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}
# lighttpd relay fastcgi system-busy system-total, in ticks.  lighttpd is
# its master and its workers (server.max-worker); the FastCGI programs are
# chatrd's children other than the relay.
cpu_snap() {
	local f=0 l c
	l=$(ticks "$LPID")
	for c in $(pgrep -P "$LPID" -x "$FRONT_PROC"); do
		l=$((l + $(ticks "$c")))
	done
	for c in $(pgrep -P "$CPID"); do
		[ "$c" = "$RPID" ] || f=$((f + $(ticks "$c")))
	done
	echo "$l $(ticks "$RPID") $f $(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)"
}
# RSS (kB) of lighttpd's master and workers together.
lighttpd_rss() {
	local r c
	r=$(awk '/^VmRSS:/{print $2}' "/proc/$LPID/status" 2>/dev/null || echo 0)
	for c in $(pgrep -P "$LPID" -x "$FRONT_PROC"); do
		r=$((r + $(awk '/^VmRSS:/{print $2}' "/proc/$c/status" 2>/dev/null || echo 0)))
	done
	echo "$r"
}
# Wait until other processes leave the machine alone (busy < QUIET_PCT).
quiet_wait() {
	local waited=0 a b busy
	while :; do
		a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
		sleep 2
		b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
		busy=$(echo "$a $b" | awk -v n="$(nproc)" '{print int(100 * ($3-$1) / (($4-$2)/n))}')
		if [ "$busy" -lt "$QUIET_PCT" ]; then
			return 0
		fi
		if [ $waited -ge "$QUIET_WAIT" ]; then
			log "the machine is still busy ($busy% of a core); running anyway"
			return 0
		fi
		[ $waited = 0 ] && log "waiting for other load to settle ($busy% of a core busy)"
		waited=$((waited + 2))
	done
}

# The hook fanout runs once every stream is held: memory and CPU.
cat >"$DIR/hook.sh" <<'EOF'
#!/bin/sh
# fanout -x hook: $1 is the file to write.
{
	echo "held $FANOUT_HELD"
	echo "rss_held $(awk '/^VmRSS:/{print $2}' /proc/$RPID/status) $(bash "$BENCH_DIR/rss.sh")"
	echo "cpu0 $(bash "$BENCH_DIR/cpu.sh")"
} >"$1"
# BENCH_PERF=1: profile lighttpd and the relay while the posts go out
if [ "${BENCH_PERF:-0}" = 1 ]; then
	perf record -F 999 -g -p "$LPID,$RPID" -o "$1.perf" -- \
	    sleep "${BENCH_PERF_SECONDS:-8}" >/dev/null 2>&1 &
fi
EOF
cat >"$DIR/rss.sh" <<EOF
#!/bin/bash
LPID=\$LPID
$(declare -f lighttpd_rss)
lighttpd_rss
EOF
cat >"$DIR/cpu.sh" <<EOF
#!/bin/bash
LPID=\$LPID RPID=\$RPID CPID=\$CPID
$(declare -f ticks cpu_snap)
cpu_snap
EOF
export BENCH_DIR=$DIR

# name -> fanout arguments
fanout_args() {
	local api=127.0.0.1:$PORT relay=127.0.0.1:$RPORT
	case $1 in
	a) echo "-a $api -n 1000 -r 20 -d $DUR" ;;
	a-direct) echo "-a $api -s $relay -n 1000 -r 20 -d $DUR" ;;
	b) echo "-a $api -n 5000 -C 2500 -r 10 -d $DUR" ;;
	b-direct) echo "-a $api -s $relay -n 5000 -C 2500 -r 10 -d $DUR" ;;
	c) echo "-a $api -n $C_STREAMS -C 2000 -r 1 -d $DUR" ;;
	c-direct) echo "-a $api -s $relay -n $C_DIRECT -C 2000 -r 1 -d $DUR" ;;
	d) echo "-a $api -n 1000 -H 120 -r 1 -m 3" ;;
	d-direct) echo "-a $api -s $relay -n 1000 -H 120 -r 1 -m 3" ;;
	*) return 1 ;;
	esac
}

# run_fanout NAME RUN: one run; appends a line of key=value to $OUT/NAME.kv
run_fanout() {
	local name=$1 run=$2 args f=$OUT/$name.$2 idle_r idle_l st
	args=$(fanout_args "$name") || { log "unknown configuration $name"; return 1; }
	quiet_wait
	start_instance
	sleep 1
	idle_r=$(rss_kb "$RPID")
	idle_l=$(lighttpd_rss)
	log "$name run $run: fanout $args"
	echo "fanout $args" >"$f.cmd"
	"$FANOUT" $args -x "sh $DIR/hook.sh $f.hook" >"$f.out" 2>"$f.err"
	st=$?
	local cpu1 sock
	cpu1=$(cpu_snap)
	sock=$(grep '^TCP:' /proc/net/sockstat)
	if ! kill -0 "$LPID" 2>/dev/null || ! kill -0 "$RPID" 2>/dev/null; then
		log "$name run $run: lighttpd or the relay died!"
		echo "DIED lighttpd=$(kill -0 "$LPID" 2>/dev/null && echo alive || echo dead) relay=$(kill -0 "$RPID" 2>/dev/null && echo alive || echo dead)" >>"$f.err"
	fi
	grep -E 'was killed|exited with|crash|fatal|PANIC' "$VAR/log/chatr.log" 2>/dev/null >"$f.serverlog"
	grep 'chatr-sse-relay' "$VAR/log/chatr.log" >"$f.relay.log" 2>/dev/null
	stop_instance
	if [ -s "$f.hook.perf" ]; then
		perf report -i "$f.hook.perf" --stdio --no-children \
		    --sort comm,dso,sym -g none 2>/dev/null | grep -v '^#' |
		    grep -v '^$' | head -n 60 >"$f.perf.txt"
	fi
	grep -v '^RESULT' "$f.out" | sed 's/^/    /' >&2
	[ $st = 0 ] || log "$name run $run: fanout exit status $st"
	# one line: RESULT fields + memory + CPU shares
	awk -v st="$st" -v idle_r="$idle_r" -v idle_l="$idle_l" \
	    -v cpu1="$cpu1" -v hz="$HZ" -v n="$(nproc)" '
	FILENAME ~ /hook$/ && $1 == "rss_held" { rr = $2; rl = $3 }
	FILENAME ~ /hook$/ && $1 == "cpu0" { split($0, c0, " ") }
	FILENAME ~ /out$/ && $1 == "RESULT" { res = $0; sub(/^RESULT /, "", res)
		for (i = 2; i <= NF; i++) { split($i, kv, "="); R[kv[1]] = kv[2] } }
	END {
		split(cpu1, c1, " ")
		w = R["wall_s"]; held = R["held"]
		if (w <= 0) w = 1
		lh = (c1[1] - c0[2]) / hz; re = (c1[2] - c0[3]) / hz
		fc = (c1[3] - c0[4]) / hz
		busy = (c1[4] - c0[5]) / hz
		other = busy - lh - re - fc - R["cpu_s"]
		if (other < 0) other = 0
		relkb = rr - idle_r; lkb = rl - idle_l
		printf "%s status=%d rss_relay_idle_kb=%d rss_relay_held_kb=%d " \
		    "rss_lighttpd_idle_kb=%d rss_lighttpd_held_kb=%d " \
		    "relay_b_per_stream=%.0f lighttpd_b_per_stream=%.0f " \
		    "total_b_per_stream=%.0f lighttpd_cpu_pct=%.1f " \
		    "relay_cpu_pct=%.1f fcgi_cpu_pct=%.1f other_cpu_pct=%.1f\n",
		    res, st, idle_r, rr, idle_l, rl,
		    (held > 0 ? relkb * 1024 / held : 0),
		    (held > 0 ? lkb * 1024 / held : 0),
		    (held > 0 ? (relkb + lkb) * 1024 / held : 0),
		    100 * lh / w, 100 * re / w, 100 * fc / w, 100 * other / w
	}' "$f.hook" "$f.out" >>"$OUT/$name.kv"
	echo "$sock" >>"$f.err"
}

# ---- wrk ---------------------------------------------------------------
run_wrk() {
	local run=$1 c keys i k out cpu0 cpu1
	quiet_wait
	start_instance
	keys=
	for i in $(seq 1 20); do
		k=$(curl -s -X POST -H 'Content-Type: application/json' \
		    -d "{\"name\":\"wrk${run}_$i\"}" "http://127.0.0.1:$PORT/api/register" |
		    sed -n 's/.*"apiKey":"\([^"]*\)".*/\1/p')
		keys=$keys${keys:+,}$k
	done
	for c in $WRK_CONNS; do
		out=$OUT/g-c$c.$run.out
		cpu0=$(cpu_snap)
		WRK_MODE=post WRK_KEYS=$keys wrk -t2 -c"$c" -d"${WRK_SECONDS}s" --latency \
		    -s "$here/api.lua" "http://127.0.0.1:$PORT" >"$out" 2>&1
		cpu1=$(cpu_snap)
		log "g run $run, $c connections: $(grep '^WRK' "$out")"
		awk -v c0="$cpu0" -v c1="$cpu1" -v hz="$HZ" -v s="$WRK_SECONDS" '
		$1 == "WRK" { res = $0; sub(/^WRK /, "", res) }
		END { split(c0, a, " "); split(c1, b, " ")
			printf "%s lighttpd_cpu_pct=%.1f relay_cpu_pct=%.1f " \
			    "fcgi_cpu_pct=%.1f busy_cpu_pct=%.1f\n", res,
			    100 * (b[1] - a[1]) / hz / s, 100 * (b[2] - a[2]) / hz / s,
			    100 * (b[3] - a[3]) / hz / s, 100 * (b[4] - a[4]) / hz / s
		}' "$out" >>"$OUT/g-c$c.kv"
	done
	# every acknowledged post must be in the store and the log: wrk's
	# count misses only the requests in flight when it stopped
	local answered=0 last lines inflight=0
	for c in $WRK_CONNS; do
		answered=$((answered + $(sed -n 's/^WRK requests=\([0-9]*\).*/\1/p' "$OUT/g-c$c.$run.out")))
		inflight=$((inflight + c))
	done
	last=$(curl -s "http://127.0.0.1:$PORT/api/messages?limit=1" |
	    sed -n 's/.*"id":"\([0-9]*\)".*/\1/p')
	lines=$(wc -l <"$VAR/messages.log")
	echo "run $run: wrk got $answered answers; newest stored id $last; $lines lines in messages.log (at most $inflight may be in flight)" |
	    tee -a "$OUT/g.check" >&2
	if [ "${last:-0}" -lt "$answered" ] || [ "$lines" -lt "$answered" ] ||
	    [ "${last:-0}" -gt $((answered + inflight)) ]; then
		echo "run $run: MISMATCH between answers and the store" | tee -a "$OUT/g.check" >&2
	fi
	stop_instance
}

# ---- medians -----------------------------------------------------------
# median KEY FILE: the median of KEY=value over the lines of FILE
median() {
	awk -v k="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == k) v[n++] = kv[2] } }
	END { if (n == 0) { print "-"; exit }
		for (i = 0; i < n; i++) for (j = i + 1; j < n; j++)
			if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		print v[int((n - 1) / 2)] }' "$2"
}
# total KEY FILE
total() {
	awk -v k="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == k) s += kv[2] } } END { print s + 0 }' "$2"
}

for name in $configs; do
	if [ "$name" = g ]; then
		for run in $(seq 1 "$RUNS"); do
			run_wrk "$run"
		done
	else
		for run in $(seq 1 "$RUNS"); do
			run_fanout "$name" "$run"
		done
	fi
done

{
	echo
	echo "Medians of $RUNS runs ($DUR s of posting each); latency = POST sent -> event read by the load client (kernel arrival in brackets); CPU in % of one core during posting."
	echo
	echo "| config | streams held | posts acked | deliveries expected / received | missing / dup / out-of-order (all runs) | p50 ms | p90 ms | p99 ms | max ms | history: all / p99 per client ms | bytes/stream relay+lighttpd | client CPU | lighttpd CPU | relay CPU | FastCGI CPU | other CPU |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for name in $configs; do
		[ "$name" = g ] && continue
		f=$OUT/$name.kv
		[ -s "$f" ] || continue
		echo "| $name | $(median held "$f") | $(median acked "$f") | $(median expected "$f") / $(median received "$f") | $(total missing "$f") / $(total dup "$f") / $(total ooo "$f") | $(median lat_p50_ms "$f") [$(median klat_p50_ms "$f")] | $(median lat_p90_ms "$f") [$(median klat_p90_ms "$f")] | $(median lat_p99_ms "$f") [$(median klat_p99_ms "$f")] | $(median lat_max_ms "$f") | $(median hist_all_ms "$f") / $(median hist_p99_ms "$f") | $(median total_b_per_stream "$f") ($(median relay_b_per_stream "$f") + $(median lighttpd_b_per_stream "$f")) | $(median cpu_pct "$f")% | $(median lighttpd_cpu_pct "$f")% | $(median relay_cpu_pct "$f")% | $(median fcgi_cpu_pct "$f")% | $(median other_cpu_pct "$f")% |"
	done
	if echo " $configs " | grep -q ' g '; then
		echo
		echo "POST /api/messages with wrk -t2, ${WRK_SECONDS} s, medians of $RUNS runs:"
		echo
		echo "| connections | requests/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors | lighttpd CPU | FastCGI CPU | relay CPU | machine busy |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|"
		for c in $WRK_CONNS; do
			f=$OUT/g-c$c.kv
			[ -s "$f" ] || continue
			echo "| $c | $(median rps "$f") | $(median p50_ms "$f") | $(median p90_ms "$f") | $(median p99_ms "$f") | $(total non2xx "$f") | $(total sockerr "$f") | $(median lighttpd_cpu_pct "$f")% | $(median fcgi_cpu_pct "$f")% | $(median relay_cpu_pct "$f")% | $(median busy_cpu_pct "$f")% |"
		done
		echo
		cat "$OUT/g.check" 2>/dev/null
	fi
} | tee "$OUT/results.md"
log "raw results in $OUT"
