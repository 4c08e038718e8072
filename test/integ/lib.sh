# test/integ/lib.sh -- sourced by every integration test (bash).
#
# start_chatr starts a private chatr through ./run.sh (lighttpd, the FastCGI
# programs, the relay) on a free loopback port, with its own CHATR_VAR under
# a temporary directory that goes away at exit.  Results are TAP lines (one
# per check, counted by automake's TAP driver); the instance's logs are
# printed only when a check failed.
#
# Needs: top_srcdir, top_builddir (set by make check), curl, jq.

set -u
: "${top_srcdir:?run me through make check}" "${top_builddir:?}"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)

T=$(mktemp -d "${TMPDIR:-/tmp}/chatr-test.XXXXXX")
mkdir -p "$T/var/log"

# Memory checking: under make check-valgrind every chatr program runs in
# valgrind; in a sanitizer build ASan/UBSan write their reports to files.
# Either way finish() fails the test on any report.
MEMCHECK=
if [ "${CHATR_VALGRIND:-0}" = 1 ]; then
	MEMCHECK=valgrind
	CHATR_TEST_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --suppressions=$top_srcdir/test/valgrind.supp --log-file=$T/var/log/valgrind.%p.log"
elif ldd "$top_builddir/fcgi-bin/chatr-register" 2>/dev/null | grep -q libasan; then
	MEMCHECK=sanitizer
	export ASAN_OPTIONS="log_path=$T/var/log/asan:detect_leaks=1"
	export LSAN_OPTIONS="suppressions=$top_srcdir/test/lsan.supp:print_suppressions=0"
	export UBSAN_OPTIONS="log_path=$T/var/log/ubsan:print_stacktrace=1"
fi
TESTNAME=$(basename "$0" .sh)
NTEST=0
NFAIL=0
RUNPID=
PORT=
BASE=
STATUS=
BODY=

# --- TAP -------------------------------------------------------------------
ok() {
	NTEST=$((NTEST + 1))
	echo "ok $NTEST - $*"
}

not_ok() {
	NTEST=$((NTEST + 1))
	NFAIL=$((NFAIL + 1))
	echo "not ok $NTEST - $1"
	shift
	for l in "$@"; do
		printf '#   %s\n' "$l"
	done
}

skip() {
	NTEST=$((NTEST + 1))
	echo "ok $NTEST # SKIP $*"
}

# check DESC COMMAND...: ok if the command succeeds.
check() {
	d=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then
		ok "$d"
	else
		not_ok "$d" "command: $*" "$(head -c 2000 "$T/check.out")"
	fi
}

# --- the instance ------------------------------------------------------------
# free_port: a port nothing listens on, below the kernel's range of
# ephemeral ports when it can (so that no outgoing connection takes it
# before it is bound), and not given out before in this test.
free_port() {
	local lo hi p used="$T/ports-given"
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
	    lo=32768
	if [ "${lo:-0}" -gt 12000 ]; then
		hi=$((lo - 1))
		lo=10000
	else
		lo=20000 hi=60000
	fi
	while :; do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		grep -qx "$p" "$used" 2>/dev/null && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p" >>"$used"
			echo "$p"
			return
		fi
	done
}

# start_chatr [VAR=value ...]: start an instance with these settings on top
# of the test defaults.  Sets PORT and BASE.  The same CHATR_VAR is kept
# across restarts within one test.
start_chatr() {
	local try
	for try in 1 2 3; do
		PORT=$(free_port)
		BASE="http://127.0.0.1:$PORT"
		mkdir -p "$T/var"
		env CHATR_NO_BUILD=1 CHATR_BUILDDIR="$top_builddir" \
		    CHATR_VAR="$T/var" CHATR_PORT="$PORT" CHATR_PROCS=2 \
		    CHATR_LOG_LEVEL=info ${CHATR_TEST_WRAPPER:+CHATR_WRAPPER="$CHATR_TEST_WRAPPER"} \
		    "$@" "$top_srcdir/run.sh" >>"$T/run.log" 2>&1 &
		RUNPID=$!
		local i=0
		while [ $i -lt 300 ]; do
			if grep -q "chatr is running at $BASE/" "$T/run.log" 2>/dev/null; then
				return 0
			fi
			kill -0 "$RUNPID" 2>/dev/null || break
			sleep 0.1
			i=$((i + 1))
		done
		stop_chatr
	done
	echo "Bail out! chatr did not start"
	cat "$T/run.log" >&2
	exit 1
}

# stop_chatr: SIGTERM to run.sh, which stops everything it started.
stop_chatr() {
	if [ -n "$RUNPID" ]; then
		kill -TERM "$RUNPID" 2>/dev/null || :
		wait "$RUNPID" 2>/dev/null || :
		RUNPID=
	fi
}

# memcheck_reports: the valgrind or sanitizer reports the programs left.
# (A sanitizer file that only says LeakSanitizer could not stop a thread
# that was exiting as its process did, "Unable to get registers from
# thread N", holds no report: it is skipped.)
# A report of the one crash known inside Berkeley DB itself is listed
# apart ($T/known-libdb) and fails nothing: Debian's libdb 5.3.28 reads
# through a null pointer in __rep_apply, called from __rep_bulk_log, in a
# replica's replication message thread (a race of its own, seen in about
# one sanitizer run in 30 of the replication tests).  chatr survives it:
# chatrd starts the replication process again, its recovery mends the
# node, and every check of the test still holds.
memcheck_known_libdb() {
	grep -q 'ERROR: AddressSanitizer: SEGV' "$1" &&
	grep -Eq '#0 0x[0-9a-f]+ in __rep_apply \(/[^ ]*libdb-5\.3\.so' "$1" &&
	grep -Eq '#1 0x[0-9a-f]+ in __rep_bulk_log \(/[^ ]*libdb-5\.3\.so' "$1"
}

memcheck_reports() {
	local f
	for f in "$T"/var/log/valgrind.*.log "$T"/var/log/asan.* "$T"/var/log/ubsan.*; do
		[ -s "$f" ] || continue
		if ! grep -qv '^==[0-9]*==Unable to get registers from thread [0-9]*\.$' "$f"; then
			continue
		fi
		if memcheck_known_libdb "$f"; then
			echo "$f" >>"$T/known-libdb"
			continue
		fi
		echo "$f"
	done
}

finish() {
	local status=$?
	stop_chatr
	if [ "$MEMCHECK" = valgrind ]; then
		# valgrind opens its log as each program starts: none, none ran
		if compgen -G "$T/var/log/valgrind.*.log" >/dev/null; then
			ok "the chatr programs ran under valgrind"
		else
			not_ok "the chatr programs ran under valgrind" \
			    "no valgrind log in $T/var/log"
		fi
	fi
	if [ -n "$MEMCHECK" ]; then
		local reports
		reports=$(memcheck_reports)
		if [ -s "$T/known-libdb" ]; then
			echo "# the known crash inside libdb (__rep_apply from __rep_bulk_log) happened; chatr recovered:"
			sed 's/^/#   /' "$T/known-libdb"
		fi
		if [ -z "$reports" ]; then
			ok "no $MEMCHECK reports from any chatr program"
		else
			not_ok "no $MEMCHECK reports from any chatr program" \
			    "$(cat $reports | head -n 60)"
		fi
	fi
	echo "1..$NTEST"
	if [ "$NFAIL" -gt 0 ] || [ "$status" -ne 0 ]; then
		{
			echo "# --- run.log"
			sed 's/^/# /' "$T/run.log" 2>/dev/null | tail -n 100
			for f in "$T"/var/log/*.log; do
				[ -f "$f" ] || continue
				echo "# --- $f"
				sed 's/^/# /' "$f" | tail -n 100
			done
		}
		echo "# test directory kept: $T"
	elif [ "${CHATR_TEST_KEEP:-0}" = 1 ]; then
		echo "# test directory kept (CHATR_TEST_KEEP): $T"
	else
		rm -rf "$T"
	fi
}
trap finish EXIT

# --- requests -----------------------------------------------------------------
# req METHOD PATH [BODY [CURL-ARGS...]]: sets STATUS, BODY and HEADERS (a
# file).  An empty BODY sends none; "-" sends the file $T/payload.  A body
# goes as application/json, or as $REQ_CT when that is set.
req() {
	local m=$1 p=$2 body=${3:-}
	shift 2
	[ $# -gt 0 ] && shift
	local args=(-s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$m"
	    --max-time 30)
	# REQ_CT: another Content-Type for the body ("": none at all)
	local ct="Content-Type: ${REQ_CT-application/json}"
	[ "${REQ_CT-x}" = "" ] && ct="Content-Type:"
	if [ "$body" = - ]; then
		args+=(-H "$ct" --data-binary "@$T/payload")
	elif [ -n "$body" ]; then
		args+=(-H "$ct" --data-binary "$body")
	elif [ "$m" = POST ]; then
		args+=(-H 'Content-Length: 0')
	fi
	rm -f "$T/body" # curl makes no file for an empty body
	STATUS=$(curl "${args[@]}" "$@" "$BASE$p") || STATUS=000
	BODY=$(cat "$T/body" 2>/dev/null || :)
	HEADERS=$T/headers
}

# header NAME: the value of a response header of the last request.
header() {
	tr -d '\r' <"$HEADERS" | awk -v n="$1" 'BEGIN{IGNORECASE=1} tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}'
}

# expect STATUS JQ-EXPRESSION DESC: the last answer had this status and its
# body is JSON for which the expression is true.
expect() {
	local want=$1 expr=$2 d=$3
	if [ "$STATUS" != "$want" ]; then
		not_ok "$d" "status $STATUS, expected $want" "body: ${BODY:0:500}"
	elif ! printf '%s' "$BODY" | jq -e "$expr" >/dev/null 2>&1; then
		not_ok "$d" "status $STATUS; body fails: $expr" "body: ${BODY:0:500}"
	else
		ok "$d"
	fi
}

# expect_error STATUS DESC: a JSON error of PRODUCT.md with this status.
expect_error() {
	expect "$1" '.success == false and (.error | type == "string" and length > 0) and (keys - ["success","error","retryAfter"] | length == 0)' "$2"
}

# register NAME [CURL-ARGS...]: register an agent; sets KEY and ID.
register() {
	local name=$1
	shift
	req POST /api/register "{\"name\":\"$name\"}" "$@"
	KEY=$(printf '%s' "$BODY" | jq -r '.agent.apiKey // empty' 2>/dev/null)
	ID=$(printf '%s' "$BODY" | jq -r '.agent.id // empty' 2>/dev/null)
}


# --- streams --------------------------------------------------------------------
# stream_open NAME [CURL-ARGS...]: hold GET /api/stream open in the
# background, saving what arrives in $T/NAME.sse.
declare -A STREAMPID
stream_open() {
	local name=$1
	shift
	: >"$T/$name.sse"
	curl -sN --no-buffer -D "$T/$name.hdr" "$@" "$BASE/api/stream" \
	    >>"$T/$name.sse" 2>/dev/null &
	STREAMPID[$name]=$!
}

# stream_close NAME
stream_close() {
	local pid=${STREAMPID[$1]:-}
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	fi
	unset "STREAMPID[$1]"
}

# stream_events NAME: the data of every complete event, one JSON per line.
stream_events() {
	awk 'BEGIN{RS=""} {n=split($0, l, "\n"); for (i=1;i<=n;i++) if (l[i] ~ /^data: /) print substr(l[i], 7)}' "$T/$1.sse"
}

# stream_wait NAME JQ-EXPR [SECONDS]: wait until the events, as a JSON
# array (jq -s), satisfy the expression.  Fails after the timeout.
stream_wait() {
	local name=$1 expr=$2 secs=${3:-10} i=0
	while [ $i -lt $((secs * 10)) ]; do
		if stream_events "$name" | jq -se "$expr" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# stream_ids NAME: the ids of the message events received, in order.
stream_ids() {
	stream_events "$1" | jq -r 'select(.type == "message") | .data.id'
}

# post KEY CONTENT [CURL-ARGS...]: POST /api/messages.
post() {
	local key=$1 content=$2
	shift 2
	req POST /api/messages "$(jq -cn --arg c "$content" '{content: $c}')" \
	    -H "Authorization: Bearer $key" "$@"
}

# post_many KEY COUNT CONTENT: COUNT posts over one connection (curl -K),
# quickly.  Prints how many were answered 200.
post_many() {
	local key=$1 n=$2 content=$3 out body i
	out=$(mktemp "$T/many.XXXXXX")
	body=$(jq -cn --arg c "$content" '{content: $c}' | sed 's/\\/\\\\/g; s/"/\\"/g')
	for i in $(seq 1 "$n"); do
		[ "$i" -gt 1 ] && echo next
		printf 'url = "%s/api/messages"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata-binary = "%s"\nwrite-out = "%%{http_code}\\n"\noutput = /dev/null\n' \
		    "$BASE" "$key" "$body"
	done >"$out.cfg"
	curl -s -K "$out.cfg" >"$out.codes"
	grep -c '^200$' "$out.codes"
}

# fake_moltbook: start the local fake of Moltbook (test/fake-moltbook,
# node); sets FAKE (its base URL) and stops it at exit.
fake_moltbook() {
	node "$top_srcdir/test/fake-moltbook/server.js" "$T/fake.port" 2>"$T/fake.err" &
	FAKEPID=$!
	wait_for 10 test -s "$T/fake.port"
	FAKE=http://127.0.0.1:$(cat "$T/fake.port")
	trap 'kill $FAKEPID 2>/dev/null; finish' EXIT
}

# npm_need PACKAGE@VERSION: the npm package in the build tree's
# test/node (NODEDIR), installed once.  Fails (with a not_ok) if npm
# cannot get it.
NODEDIR=$top_builddir/test/node
npm_need() {
	local pkg=${1%@*}
	[ -d "$NODEDIR/node_modules/$pkg" ] && return 0
	mkdir -p "$NODEDIR"
	if ! npm install --silent --no-audit --no-fund --prefix "$NODEDIR" \
	    "$1" >"$T/npm.log" 2>&1; then
		not_ok "npm install $1" "$(tail -n 20 "$T/npm.log")"
		return 1
	fi
}

# wait_for SECONDS COMMAND...: retry the command until it succeeds.
wait_for() {
	local secs=$1 i=0
	shift
	while [ $i -lt $((secs * 10)) ]; do
		"$@" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
