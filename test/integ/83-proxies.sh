#!/bin/bash
# 83-proxies.sh -- the client's address behind proxies: X-Forwarded-For
# from a peer that is not a trusted proxy is ignored; from a trusted one
# the rightmost address that is not trusted is the client, and is limited
# and blocked as such, in the REST programs and in the relay; an IPv6 /64
# shares one limit.  (Connections from 127.0.0.2 come through curl
# --interface: every 127/8 address is the loopback.)
. "$(dirname "$0")/lib.sh"

reg() { # NAME XFF [CURL-ARGS...]: register with that X-Forwarded-For
	local name=$1 xff=$2
	shift 2
	req POST /api/register "{\"name\":\"$name\"}" -H "X-Forwarded-For: $xff" "$@"
}

# --- no trusted proxy: the header is anyone's word --------------------------
start_chatr CHATR_LIMIT_REGISTER_IP=2/3600
reg spoof1 198.51.100.1
expect 200 '.success == true' "a registration with a spoofed X-Forwarded-For is served"
reg spoof2 198.51.100.2
expect 200 '.success == true' "a second one too"
reg spoof3 198.51.100.3
expect 429 '.success == false and .retryAfter > 0' \
    "a third is limited: with no trusted proxy the header changes nothing"
stop_chatr

# --- 127.0.0.1 is the trusted proxy ----------------------------------------------
start_chatr CHATR_LIMIT_REGISTER_IP=2/3600 CHATR_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8" \
    CHATR_LIMIT_STREAMS_IP=1
reg a1 198.51.100.7
expect 200 '.success == true' "client 198.51.100.7 through the trusted proxy registers"
reg a2 "10.1.1.1, 198.51.100.7, 10.2.2.2"
expect 200 '.success == true' "again through two trusted hops (10/8): still 198.51.100.7"
reg a3 198.51.100.7
expect 429 '.success == false' "its third registration is limited: the limit is the client's"
reg b1 198.51.100.8
expect 200 '.success == true' "another client behind the same proxy is not limited by the first"
reg a4 "198.51.100.99, 198.51.100.7"
expect 429 '.success == false' \
    "a client cannot escape its limit by writing another address in front of its own"
reg c1 198.51.100.9 --interface 127.0.0.2
expect 200 '.success == true' "from a peer that is not trusted (127.0.0.2), the header is ignored"
reg c2 198.51.100.10 --interface 127.0.0.2
expect 200 '.success == true' "... its second registration"
reg c3 198.51.100.11 --interface 127.0.0.2
expect 429 '.success == false' "... and its third is limited as 127.0.0.2's"
reg bad1 "not-an-address"
expect 429 '.success == false' \
    "an entry that is not an address ends the walk at the proxy (127.0.0.1, twice already)"

# IPv6: a /64 is one address
reg v1 2001:db8:1:2::1
expect 200 '.success == true' "2001:db8:1:2::1 registers"
reg v2 2001:db8:1:2:aaaa:bbbb:cccc:dddd
expect 200 '.success == true' "another address of the same /64 registers"
reg v3 2001:db8:1:2::ffff
expect 429 '.success == false' "a third from that /64 is limited: the /64 shares one limit"
reg v4 2001:db8:1:3::1
expect 200 '.success == true' "the next /64 has its own"

# a block applies to the client, not to the proxy
CTL=$top_builddir/ctl/chatrctl
CHATR_CONFIG=$T/var/chatr.conf "$CTL" block 203.0.113.0/24 >/dev/null
reg blocked 203.0.113.5
expect 403 '.blocked == true' "a client inside a block, behind the trusted proxy, is refused"
reg notblocked 203.0.113.0.5
expect 429 '.success == false' "(a malformed entry is not the client)"

# the relay: at most one stream per client address
stream_open s1 -H "X-Forwarded-For: 198.51.100.20"
check "a stream for client 198.51.100.20 opens" \
    stream_wait s1 'map(select(.type == "history")) | length == 1'
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 8 -H "X-Forwarded-For: 198.51.100.20" "$BASE/api/stream")
check "a second stream for the same client is refused (429), its address read behind the proxy" \
    test "$code" = 429
stream_open s2 -H "X-Forwarded-For: 198.51.100.21"
check "a stream for another client behind the same proxy opens" \
    stream_wait s2 'map(select(.type == "history")) | length == 1'
stream_open v6a -H "X-Forwarded-For: 2001:db8:9:9::1"
check "a stream for an IPv6 client opens" \
    stream_wait v6a 'map(select(.type == "history")) | length == 1'
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 8 -H "X-Forwarded-For: 2001:db8:9:9::2" "$BASE/api/stream")
check "a stream for another address of that /64 is refused: one limit" test "$code" = 429
stream_close s1
stream_close s2
stream_close v6a
