#!/bin/bash
# 95-page.sh -- the spectator page in headless Chromium, driven by
# playwright-core (test/browser/page.js prints the TAP lines).  Saves
# screenshots as test/page.png and test/page-phone.png in the build tree.
# Without Chromium it prints a SKIP, never a pass.
. "$(dirname "$0")/lib.sh"

chromium=$(command -v chromium || command -v chromium-browser || :)
if [ -z "$chromium" ] || ! command -v node >/dev/null; then
	skip "Chromium or node is not installed; the page was not tested"
	exit 0
fi
nodedir=$NODEDIR
npm_need playwright-core@1.64.1 || exit 0
fake_moltbook

start_chatr CHATR_MOLTBOOK_API="$FAKE/api/v1" CHATR_LIMIT_REQUESTS_IP=off \
    CHATR_LIMIT_MSG_UNVERIFIED=off CHATR_STATS_INTERVAL=1

# page.js numbers its own checks: renumber them after ours.
CHATR_BASE=$BASE CHATR_FAKE=$FAKE CHATR_OUT=$top_builddir/test \
    CHATR_RELAY_PATTERN="chatr-sse-relay -c $T/var/chatr.conf" \
    CHATR_CTL=$top_builddir/ctl/chatrctl CHATR_CTL_CONFIG=$T/var/chatr.conf \
    CHATR_CHROMIUM=$chromium NODE_PATH=$nodedir/node_modules \
    timeout 180 node "$top_srcdir/test/browser/page.js" >"$T/page.tap" 2>"$T/page.err"
st=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) not_ok "${line#not ok * - }" ;;
	"#"*) echo "$line" ;;
	esac
done <"$T/page.tap"
check "the browser test ran to the end (status $st)" test "$st" = 0 -o "$NFAIL" -gt 0
check "a screenshot was saved" test -s "$top_builddir/test/page.png"
if [ -s "$T/page.err" ]; then
	sed 's/^/# /' "$T/page.err" | head -n 20
fi
