#!/bin/bash
# scale-bench.sh -- chatr as its store grows: registration, authentication
# and GET /api/agents with 1,000, 100,000 and 1,000,000 registered agents,
# 10,000 of them online (or all, when fewer).
#
# One instance (run.sh, CHATR_ONLINE_WINDOW of a day so that the agents
# marked online stay so, limits lifted).  For each size, bench/populate
# grows the store to it directly (as registrations would), marks agents
# online (evenly spread over the new ones) until ONLINE are, and keeps
# 1,000 API keys spread over the new ones.  Then wrk (2 threads, CONNS connections, SECONDS_EACH s, RUNS
# times, medians printed):
#   register   POST /api/register, a new name each time
#   auth       POST /api/heartbeat with the 1,000 keys in turn (a key
#              lookup in the store; presence written at most once per
#              agent per 5 s)
#   agents     GET /api/agents (the default page: 200 of the online)
#   agents1000 GET /api/agents?limit=1000
# Registration runs last at each size, and for REGISTER_SECONDS only: each
# run adds its agents (several thousand a second) to the store.  The
# agents column gives the store (registered/online) after each run.
# Raw lines in $OUT/raw.txt; the table on stdout.
#
# usage: bench/scale-bench.sh [BUILD-DIR]     (default ./build)
# Settings: SIZES ("1000 100000 1000000")  ONLINE (10000)  RUNS (3)
#   SECONDS_EACH (10)  REGISTER_SECONDS (2)  CONNS (16)  PORT (18480)  OUT (/tmp/chatr-scale/...)
#   CHATR_DB_CACHE_MB (chatr's default, 32)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
. "$here/lib.sh"
bld=$(cd "${1:-$top/build}" && pwd) || exit 1
sizes=${SIZES:-1000 100000 1000000}
online=${ONLINE:-10000}
runs=${RUNS:-3}
secs=${SECONDS_EACH:-10}
regsecs=${REGISTER_SECONDS:-2}
conns=${CONNS:-16}
port=${PORT:-18480}
OUT=${OUT:-/tmp/chatr-scale/out-$(date +%Y%m%d-%H%M%S)}
log() { echo "scale-bench: $*" >&2; }
command -v wrk >/dev/null || { log "needs wrk (apt-get install wrk)"; exit 1; }
make -C "$bld" bench/populate >/dev/null || { log "cannot build bench/populate"; exit 1; }
mkdir -p "$OUT"
T=$OUT/work
rm -rf "$T" && mkdir -p "$T"
VAR=$T/var
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, kernel $(uname -r)"
	echo "chatr: $bld ($(git -C "$top" rev-parse --short HEAD 2>/dev/null))"
	echo "sizes: $sizes; online: $online; wrk -t2 -c$conns, $secs s, $runs runs"
} | tee "$OUT/machine.txt" >&2

trap bench_stop EXIT
trap 'exit 130' INT TERM
bench_start "$top" "$bld" "$VAR" "$port" "$T/run.log" \
    CHATR_ONLINE_WINDOW=86400 CHATR_LIMIT_REQUESTS_IP=off \
    CHATR_LIMIT_REGISTER_IP=off || exit 1
base=http://127.0.0.1:$port

# run SIZE EP RUN
run() {
	local size=$1 ep=$2 r=$3 mode path=/api/agents line
	local t=$secs
	case $ep in
	register) mode=register t=$regsecs ;;
	auth) mode=heartbeat ;;
	agents) mode=get ;;
	agents1000) mode=get path="/api/agents?limit=1000" ;;
	esac
	WRK_MODE=$mode WRK_PATH=$path WRK_TAG="s${size}r$r$ep" \
	    WRK_KEYS=$(paste -sd, "$T/keys") wrk -t2 -c"$conns" -d"${t}s" \
	    -s "$here/api.lua" "$base" >"$T/wrk.out" 2>&1
	line=$(grep '^WRK ' "$T/wrk.out" | sed 's/^WRK //')
	[ -n "$line" ] || { log "wrk failed:"; cat "$T/wrk.out" >&2; line="requests=0"; }
	echo "size=$size agents_now=$(curl -s "$base/api/agents?limit=1" |
	    sed -n 's/.*"totalAgents":\([0-9]*\).*"onlineAgents":\([0-9]*\).*/\1\/\2/p') ep=$ep run=$r $line" |
	    tee -a "$OUT/raw.txt" >&2
}

for size in $sizes; do
	# online agents so far; the new ones marked online make up the rest
	n=$(curl -s "$base/api/agents?limit=1" |
	    sed -n 's/.*"onlineAgents":\([0-9]*\).*/\1/p')
	n=$((online - ${n:-0}))
	[ "$n" -lt 0 ] && n=0
	start=$(date +%s%N)
	CHATR_VAR=$VAR "$bld/bench/populate" "$size" "$n" 1000 "$T/keys.new" >&2 ||
	    exit 1
	log "populated to $size in $((($(date +%s%N) - start) / 1000000)) ms"
	# (keys of the new agents; the last ones if none were needed)
	[ -s "$T/keys.new" ] && mv "$T/keys.new" "$T/keys"
	for ep in auth agents agents1000 register; do
		for r in $(seq "$runs"); do
			run "$size" "$ep" "$r"
		done
	done
done

# medians
echo
echo "| registered | endpoint | agents (total/online) at the last run | req/s | p50 ms | p99 ms | non-2xx |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
awk '
function val(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
{ k = val("size") " " val("ep"); if (!(k in seen)) { order[++no] = k; seen[k] = 1 }
  rps[k] = rps[k] " " val("rps"); p50[k] = p50[k] " " val("p50_ms"); p99[k] = p99[k] " " val("p99_ms")
  bad[k] = bad[k] " " val("non2xx"); now[k] = val("agents_now") }
END { for (i = 1; i <= no; i++) { k = order[i]; split(k, f, " ")
  printf "| %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], now[k], med(rps[k]), med(p50[k]), med(p99[k]), med(bad[k]) } }
' "$OUT/raw.txt" | tee "$OUT/table.md"
