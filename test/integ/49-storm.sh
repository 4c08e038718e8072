#!/bin/bash
# 49-storm.sh -- a bounded kill storm: four posters write as fast as they
# can, a stream reads and resumes with Last-Event-ID whenever it is cut,
# and every 120 ms one of the instance's own programs (any FastCGI program
# or the relay) is killed with SIGKILL, 40 times.  Then every acknowledged
# message is in the store exactly once under the id it was answered with,
# the stream got every stored message exactly once and in order, and every
# answer was JSON (test/integ/storm.c checks all of it; bench/storm.sh runs
# the same storm with 1,000 kills).  The request limit counts every request
# (and refuses none), so kills also land inside its shared mutex.
. "$(dirname "$0")/lib.sh"
if [ "$MEMCHECK" = valgrind ]; then
	# The storm finds its victims by their names (chatr-*), which valgrind
	# hides, and a killed process's leak report means nothing.
	MEMCHECK=
	skip "a kill storm under valgrind (the sanitizer build runs it)"
	exit 0
fi
start_chatr CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_LIMIT_MSG_VERIFIED=off \
    CHATR_LIMIT_REQUESTS_IP=100000000/60 CHATR_LIMIT_REGISTER_IP=off

"$top_builddir/test/integ/storm" -p "$PORT" -v "$T/var" -P 4 -k 40 -i 120 \
    >"$T/storm.out" 2>"$T/storm.err"
st=$?
sed 's/^/# /' "$T/storm.out"
val() { sed -n "s/^$1=//p" "$T/storm.out"; }
check "the storm ran to its end (status $st)" test "$st" -le 1
check "40 programs were killed" test "$(val kills)" = 40
check "posts were acknowledged throughout ($(val acked))" test "$(val acked)" -gt 100
check "no acknowledged message is missing from the store" test "$(val missing)" = 0
check "no message was stored twice" test "$(val stored_twice)" = 0
check "every answer was JSON" test "$(val nonjson)" = 0
check "the stream missed nothing" test "$(val stream0_missing)" = 0
check "the stream got nothing twice" test "$(val stream0_duplicates)" = 0
check "the stream got everything in order" test "$(val stream0_out_of_order)" = 0
check "every stream error was JSON" test "$(val stream0_nonjson)" = 0
check "the storm's own verdict" test "$(val result)" = ok
req GET /api/agents
expect 200 '.success == true and .stats.totalAgents == 4' "the instance answers after the storm"
