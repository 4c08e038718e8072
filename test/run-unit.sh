#!/bin/sh
# test/run-unit.sh -- runs one unit-test program for make check; under
# valgrind (failing on any error or definite leak) when CHATR_VALGRIND=1.
if [ "${CHATR_VALGRIND:-0}" = 1 ]; then
	exec valgrind -q --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite \
	    --suppressions="$top_srcdir/test/valgrind.supp" "$@"
fi
# (the sanitizer build: libdb's own memory lost closing a recovered store,
# as in the integration tests; test/lsan.supp says why)
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top_srcdir/test/lsan.supp:print_suppressions=0}
export LSAN_OPTIONS
exec "$@"
