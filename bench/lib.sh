# lib.sh -- what the REST benchmarks (api-bench.sh, scale-bench.sh) share:
# one chatr instance started with run.sh in the background.
#
# bench_start SRC BUILD VAR PORT LOG [NAME=VALUE...]: run.sh of source tree
#   SRC with build tree BUILD, state in VAR, lighttpd on PORT and the relay
#   on PORT+1, its output in LOG, the settings given added to chatr's
#   environment; returns once chatr answers (1 if it did not start).
# bench_stop: stop it (safe to call when nothing was started).

bench_runpid=

bench_start() {
	local src=$1 bld=$2 var=$3 port=$4 out=$5 i
	shift 5
	env CHATR_NO_BUILD=1 CHATR_BUILDDIR="$bld" CHATR_VAR="$var" \
	    CHATR_PORT="$port" CHATR_RELAY_LISTEN=127.0.0.1:$((port + 1)) \
	    CHATR_LOG_LEVEL=warn "$@" \
	    "$src/run.sh" >"$out" 2>&1 </dev/null &
	bench_runpid=$!
	for i in $(seq 300); do
		grep -q "chatr is running" "$out" && return 0
		kill -0 "$bench_runpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "chatr did not start:" >&2
	cat "$out" >&2
	return 1
}

bench_stop() {
	if [ -n "$bench_runpid" ]; then
		kill -TERM "$bench_runpid" 2>/dev/null
		wait "$bench_runpid" 2>/dev/null
		bench_runpid=
	fi
}
