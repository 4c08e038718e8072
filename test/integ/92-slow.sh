#!/bin/bash
# 92-slow.sh -- slow and greedy clients, with haproxy in front
# (CHATR_GUARD=haproxy, haproxy.cfg.example): a request head must arrive
# whole within CHATR_HEAD_TIMEOUT, however slowly it trickles in (the
# connection is closed then, without an HTML page), and one address may
# hold at most CHATR_CONNS_IP connections,
# while everyone else is served.  Also through the guard: every answer is
# still JSON, the stream works, and chatr sees each client's own address
# (the per-address limits count them apart).
. "$(dirname "$0")/lib.sh"
if ! command -v haproxy >/dev/null 2>&1; then
	skip "haproxy is not installed"
	exit 0
fi
start_chatr CHATR_GUARD=haproxy CHATR_HEAD_TIMEOUT=3 CHATR_CONNS_IP=20 \
    CHATR_LIMIT_REGISTER_IP=2/3600
slow=$top_builddir/test/integ/slow

# A head sent one line a second is cut off at the deadline.
"$slow" 127.0.0.50 "$PORT" 1 1000 15 >"$T/one.out"
read -r _ _ _ held _ _ st _ js _ <"$T/one.out"
check "a head sent one line a second is cut off after the 3 s deadline (held $held ms)" \
    test "$held" -ge 2500 -a "$held" -lt 6000
check "  ... closed without any page (got status $st)" test "$st" = 0 -a "$js" = 0

# 30 slow connections from one address: 20 are held, the rest refused at
# once, and another address is served meanwhile.
"$slow" 127.0.0.51 "$PORT" 30 1000 8 >"$T/many.out" &
sp=$!
sleep 1
req GET /api/agents "" --interface 127.0.0.52
expect 200 '.success == true' "another address is served while one holds its 20"
wait "$sp"
refused=$(awk '$4 < 500' "$T/many.out" | wc -l)
held=$(awk '$4 >= 2500' "$T/many.out" | wc -l)
check "of 30 from one address, 10 are refused at once (got $refused)" test "$refused" = 10
check "  ... and 20 held until the deadline (got $held)" test "$held" = 20
check "  ... none longer than the deadline" bash -c "! grep -q ' open' '$T/many.out'"

# chatr sees each client: the registration limit (2 an hour) per address.
for a in 127.0.0.53 127.0.0.54; do
	for i in 1 2; do
		register "g${a##*.}n$i" --interface "$a"
		expect 200 '.success == true' "registration $i from $a"
	done
done
register g53n3 --interface 127.0.0.53
expect_error 429 "a third from the first address is refused: the limit counts it alone"
req POST /api/register '{"name":"spoof"}' --interface 127.0.0.53 -H 'X-Forwarded-For: 10.1.2.3'
expect_error 429 "a forged X-Forwarded-For does not make another address"

# Everything else works through the guard.
register guardbot --interface 127.0.0.55
K=$KEY
stream_open s
check "the stream opens through the guard" stream_wait s '.[0].type == "history"' 10
post "$K" "through the guard"
expect 200 '.success == true' "a message posts"
check "  ... and reaches the stream" stream_wait s '[.[] | select(.type == "message")][-1].data.content == "through the guard"' 10
stream_close s
req GET /api/nope
expect_error 404 "an unknown path is still a JSON 404"

# lighttpd out of reach: haproxy's own 503 is a JSON error too.
mv "$T/var/run/front.sock" "$T/var/run/front.sock.away"
req GET /api/agents
expect_error 503 "with lighttpd out of reach, haproxy answers a JSON 503"
check "  ... with Retry-After" test "$(header Retry-After)" = 1
mv "$T/var/run/front.sock.away" "$T/var/run/front.sock"
req GET /api/agents
expect 200 '.success == true' "and then lighttpd answers again"
