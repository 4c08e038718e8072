#!/bin/bash
# cgi-stream-bench.sh -- what a spectator costs when the stream is CGI
# (CHATR_FRONT=apache CHATR_APACHE_CGI=1: chatr-sse-relay run by mod_cgi,
# one process per stream, no chatrd): N streams held through Apache, then
# posts at 5/s for 10 s.  Reports, as medians of RUNS runs: the delivery
# latency (fanout), and the memory per held stream (the proportional set
# size, PSS, of the CGI relays and of Apache's children, over N), beside
# the same N streams through Apache with FastCGI and the relay.
#
# usage: bench/cgi-stream-bench.sh [BUILD-DIR]   (default ./build;
#   RUNS=3 STREAMS=100 PORT=18580)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
bld=$(cd "${1:-$top/build}" && pwd)
runs=${RUNS:-3}
n=${STREAMS:-100}
port=${PORT:-18580}
. "$here/lib.sh"
T=$(mktemp -d /tmp/chatr-cgistream.XXXXXX)
chmod 711 "$T"
trap 'bench_stop; rm -rf "$T"' EXIT
gcc -O2 -std=gnu99 -Wall -Wextra -o "$T/fanout" "$here/fanout.c"

pss() { # the PSS (kB) of the pids given, summed
	local p s=0
	for p in "$@"; do
		s=$((s + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
	done
	echo "$s"
}
cat >"$T/hook.sh" <<HOOK
#!/bin/bash
$(declare -f pss)
ap=\$(cat "\$VAR/run/apache.pid")
kids=\$(pgrep -P "\$ap" -x apache2 | tr '\n' ' ')
relays=\$(pgrep -f "sse-relay/chatr-sse-relay" | tr '\n' ' ')
echo "held \$FANOUT_HELD relays \$(echo \$relays | wc -w) pss_relays \$(pss \$relays) pss_apache \$(pss \$ap \$kids)" >"\$1"
HOOK

for mode in cgi fastcgi; do
	for r in $(seq "$runs"); do
		VAR=$T/var-$mode-$r
		export VAR
		extra=
		[ "$mode" = cgi ] && extra=CHATR_APACHE_CGI=1
		bench_start "$top" "$bld" "$VAR" "$port" "$T/run.log" \
		    CHATR_FRONT=apache $extra CHATR_LIMIT_REQUESTS_IP=off \
		    CHATR_LIMIT_REGISTER_IP=off CHATR_LIMIT_MSG_UNVERIFIED=off \
		    CHATR_LIMIT_STREAMS_IP=0 || exit 1
		"$T/fanout" -q -a 127.0.0.1:$port -n "$n" -C 50 -r 5 -d 10 \
		    -x "bash $T/hook.sh $T/hook.$mode.$r" >"$T/out.$mode.$r" 2>&1 || :
		bench_stop
		echo "$mode $(cat "$T/hook.$mode.$r" 2>/dev/null) $(sed -n 's/^RESULT //p' "$T/out.$mode.$r")" >>"$T/raw"
		tail -n 1 "$T/raw" >&2
	done
done
# medians per mode: latency, PSS per stream (relays + Apache, over held)
for mode in cgi fastcgi; do
	grep "^$mode " "$T/raw" | awk -v m="$mode" '
	function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((k + 1) / 2)] }
	{ for (i = 2; i <= NF; i++) { if ($i == "held") h = $(i + 1); if ($i == "pss_relays") pr = $(i + 1); if ($i == "pss_apache") pa = $(i + 1) }
	  for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	  k++; p50[k] = v["lat_p50_ms"]; p99[k] = v["lat_p99_ms"]; per[k] = h > 0 ? (pr + pa) / h : 0; miss[k] = v["missing"] + v["dup"] + v["ooo"]; hist[k] = v["hist_all_ms"] }
	END { printf "%s: %d runs, held %d, p50 %.2f ms, p99 %.2f ms, all histories after %.0f ms, PSS per stream %.0f kB (relays + Apache), missing+dup+ooo %d\n", m, k, h, med(p50, k), med(p99, k), med(hist, k), med(per, k), med(miss, k) }'
done
