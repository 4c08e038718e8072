#!/bin/bash
# storm.sh -- the kill storm at full size, and a resume from far back.
#
# For each of BENCH_RUNS runs, on a fresh instance (run.sh, limits lifted):
#   storm   six posters as fast as they can, one stream client resuming
#           with Last-Event-ID whenever it is cut, and SIGKILL to one of the
#           instance's programs (the relay included) every ~120 ms, 1,000
#           times (test/integ/storm: kills by program, acknowledged, failed
#           and by status, missing, stored twice, the stream's missing,
#           duplicates, disorder and longest outage)
#   resume  50,000 messages posted, then one stream resuming 50,000 back
#           and read to the newest, the relay's RSS sampled meanwhile
# then prints every run's figures and the medians.
#
# usage: bench/storm.sh [storm|resume ...]   (default: both)
#   BENCH_RUNS (3)  BENCH_KILLS (1000)  BENCH_INTERVAL (120 ms)
#   BENCH_RESUME (50000)  BENCH_PORT (18480)
#   BENCH_REQ_LIMIT (100000000/60: the request limit counts every request
#     and refuses none, so kills land in its shared mutex too; off to skip)
#   BENCH_BUILD: the build tree of this checkout (test/integ/storm, the
#     programs; default ./build, built by test.sh or run.sh)
#   BENCH_SRC, BENCH_SRC_BUILD: another chatr tree and its build to storm
#     instead (an older version, for a before-and-after; the storm client
#     still comes from BENCH_BUILD)
#   BENCH_OUT: raw output (default /tmp/chatr-storm-<date>)
set -u

here=$(cd "$(dirname "$0")" && pwd)
tree=$(dirname "$here")
RUNS=${BENCH_RUNS:-3}
KILLS=${BENCH_KILLS:-1000}
INTERVAL=${BENCH_INTERVAL:-120}
RESUME=${BENCH_RESUME:-50000}
PORT=${BENCH_PORT:-18480}
BLD=${BENCH_BUILD:-$tree/build}
SRC=${BENCH_SRC:-$tree}
SRCBLD=${BENCH_SRC_BUILD:-$BLD}
OUT=${BENCH_OUT:-/tmp/chatr-storm-$(date +%Y%m%d-%H%M%S)}
STORM=$BLD/test/integ/storm
modes=${*:-storm resume}
mkdir -p "$OUT"

if [ ! -x "$STORM" ]; then
	echo "storm.sh: $STORM is missing: make -C $BLD check TESTS= first" >&2
	exit 1
fi

RUNPID=
stop() {
	[ -n "$RUNPID" ] && kill -TERM "$RUNPID" 2>/dev/null && wait "$RUNPID" 2>/dev/null
	RUNPID=
}
trap stop EXIT

# start VAR: a fresh instance with its state in VAR.
start() {
	rm -rf "$1"
	mkdir -p "$1"
	env CHATR_NO_BUILD=1 CHATR_BUILDDIR="$SRCBLD" CHATR_VAR="$1" \
	    CHATR_PORT="$PORT" CHATR_LIMIT_MSG_UNVERIFIED=off \
	    CHATR_LIMIT_MSG_VERIFIED=off \
	    CHATR_LIMIT_REQUESTS_IP=${BENCH_REQ_LIMIT:-100000000/60} \
	    CHATR_LIMIT_REGISTER_IP=off "$SRC/run.sh" >"$1.run.log" 2>&1 &
	RUNPID=$!
	for i in $(seq 1 300); do
		grep -q "chatr is running" "$1.run.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "storm.sh: the instance did not start; see $1.run.log" >&2
	exit 1
}

# median FILE... KEY: the median of KEY=value over the files.
median() {
	local key=$1
	shift
	sed -n "s/^$key=//p" "$@" | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'
}

for mode in $modes; do
	for r in $(seq 1 "$RUNS"); do
		var=$OUT/var-$mode-$r
		start "$var"
		case $mode in
		storm)
			"$STORM" -p "$PORT" -v "$var" -P 6 -k "$KILLS" \
			    -i "$INTERVAL" >"$OUT/$mode.$r.out" 2>"$OUT/$mode.$r.err" ;;
		resume)
			"$STORM" -p "$PORT" -v "$var" -P 6 -R "$RESUME" \
			    >"$OUT/$mode.$r.out" 2>"$OUT/$mode.$r.err" ;;
		esac
		echo "== $mode run $r: $(grep -v '^kills_' "$OUT/$mode.$r.out" | tr '\n' ' ')"
		stop
		cp "$var/log/chatr.log" "$OUT/$mode.$r.chatr.log" 2>/dev/null
		rm -rf "$var"
	done
	echo "== $mode: medians of $RUNS runs"
	keys=$(cat "$OUT"/$mode.*.out | sed -n 's/=.*//p' | sort -u | grep -v '^seed$\|^result$')
	for k in $keys; do
		printf '  %-32s %s\n' "$k" "$(median "$k" "$OUT"/$mode.*.out)"
	done
	echo "  results: $(sed -n 's/^result=//p' "$OUT"/$mode.*.out | tr '\n' ' ')"
done
echo "raw output: $OUT"
