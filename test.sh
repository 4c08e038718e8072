#!/bin/sh
# test.sh -- install what chatr needs, build it, and run the whole test suite:
# make check (the C unit tests and the integration tests against a real
# lighttpd, relay and store), once on a plain build and once on an
# AddressSanitizer/UBSan build.  The last line is "N passed, N failed";
# the exit status is 0 only when nothing failed.
#
#   CHATR_BUILDDIR      plain build tree (default ./build)
#   CHATR_SANITIZE=0    skip the sanitizer pass
#   TESTS="..."         run only these tests (as make check understands it)
set -u

top=$(cd "$(dirname "$0")" && pwd)
. "$top/tools/build.sh"

summary() {
	echo "$1 passed, $2 failed"
	[ "$2" -eq 0 ] && [ "$1" -gt 0 ]
	exit $?
}

if ! chatr_packages $CHATR_PKGS_BUILD $CHATR_PKGS_RUN $CHATR_PKGS_TEST; then
	summary 0 1
fi
chatr_packages_optional $CHATR_PKGS_OPTIONAL

# run_suite BUILD-DIR CONFIGURE-ARGS...: build and make check; adds to the
# totals.
passed=0
failed=0
run_suite() {
	b=$1
	shift
	echo "== building in $b ($*)"
	if ! chatr_build "$top" "$b" "$@"; then
		echo "build failed in $b"
		failed=$((failed + 1))
		return
	fi
	find "$b" -name '*.trs' -delete 2>/dev/null
	echo "== make check in $b"
	make -C "$b" -j2 -k check ${TESTS:+TESTS="$TESTS"} 2>&1 |
	    grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP|#)|^make.*Error' || :
	p=$(find "$b" -name '*.trs' -exec cat {} + 2>/dev/null |
	    grep -c '^:test-result: PASS') || :
	f=$(find "$b" -name '*.trs' -exec cat {} + 2>/dev/null |
	    grep -cE '^:test-result: (FAIL|ERROR|XPASS)') || :
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	for log in $(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find "$b" -name '*.trs') 2>/dev/null); do
		echo "---- ${log%.trs}.log"
		cat "${log%.trs}.log"
	done
	echo "== $b: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}

run_suite "${CHATR_BUILDDIR:-$top/build}" --enable-werror
if [ "${CHATR_SANITIZE:-1}" != 0 ]; then
	run_suite "$top/build-sanitize" --enable-werror --enable-sanitize
fi
summary "$passed" "$failed"
