# repl-lib.sh -- nodes of one replication group, for the repl tests.
#
# Sourced after lib.sh.  Node N runs ./run.sh with its own CHATR_VAR
# ($T/nodeN), port and replication address; start_node names the peers it
# joins through.  Set REPL_NODES (how many node slots) before sourcing.
#
# The replication tests run one at a time, whatever make check -j says:
# three or four whole nodes each, under ASan on two cores, are more than
# a commit's 2 s wait for its acknowledgements allows.  The lock is a
# directory holding its test's pid; one whose test died is taken over.
REPL_LOCK=$top_builddir/test/integ/.repl-tests.lock
while ! mkdir "$REPL_LOCK" 2>/dev/null; do
	holder=$(cat "$REPL_LOCK/pid" 2>/dev/null || :)
	if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
		rm -rf "$REPL_LOCK"
		continue
	fi
	sleep 0.5
done
echo $$ >"$REPL_LOCK/pid"

SECRET=test-cluster-secret-0123456789
declare -A NPORT NRPORT NPID

# Each node's settings.  The register limit is per address and cluster-wide
# (it lives in the replicated store): the forwarding checks below use it.
for n in $(seq 1 "${REPL_NODES:-4}"); do
	NPORT[$n]=$(free_port)
	NRPORT[$n]=$(free_port)
done

# start_node N PEER-NODES...: start node N joining through the peers.
start_node() {
	local n=$1 peers="" m
	shift
	for m in "$@"; do
		peers="$peers${peers:+,}127.0.0.1:${NRPORT[$m]}"
	done
	mkdir -p "$T/node$n"
	env CHATR_NO_BUILD=1 CHATR_BUILDDIR="$top_builddir" \
	    CHATR_VAR="$T/node$n" CHATR_PORT="${NPORT[$n]}" CHATR_PROCS=1 \
	    CHATR_LOG_LEVEL=info \
	    CHATR_LIMIT_REGISTER_IP=6/3600 \
	    CHATR_LIMIT_MSG_UNVERIFIED=100000/60 \
	    CHATR_LIMIT_REQUESTS_IP=1000000/60 \
	    CHATR_REPL_LISTEN="127.0.0.1:${NRPORT[$n]}" \
	    CHATR_REPL_PEERS="$peers" \
	    CHATR_NODE_URL="http://127.0.0.1:${NPORT[$n]}" \
	    CHATR_CLUSTER_SECRET="$SECRET" \
	    ${CHATR_TEST_WRAPPER:+CHATR_WRAPPER="$CHATR_TEST_WRAPPER"} \
	    "$top_srcdir/run.sh" >>"$T/run$n.log" 2>&1 &
	NPID[$n]=$!
}

# kill_node N: SIGKILL every process of node N (run.sh, its supervisor,
# lighttpd, the programs, the relay, the replication process).
kill_node() {
	local n=$1
	kill -9 "${NPID[$n]}" 2>/dev/null || :
	pkill -9 -f "$T/node$n/" 2>/dev/null || :
	wait "${NPID[$n]}" 2>/dev/null || :
	NPID[$n]=
}

stop_nodes() {
	local n
	if [ -n "${LB_PID:-}" ]; then
		kill -TERM "$LB_PID" 2>/dev/null || :
		wait "$LB_PID" 2>/dev/null || :
	fi
	for n in "${!NPID[@]}"; do
		[ -n "${NPID[$n]}" ] || continue
		kill -TERM "${NPID[$n]}" 2>/dev/null || :
	done
	for n in "${!NPID[@]}"; do
		[ -n "${NPID[$n]}" ] || continue
		wait "${NPID[$n]}" 2>/dev/null || :
	done
	# finish() shows the logs in $T/var/log when a check failed
	for n in $(seq 1 "${REPL_NODES:-4}"); do
		[ -f "$T/node$n/log/chatr.log" ] &&
		    cp "$T/node$n/log/chatr.log" "$T/var/log/node$n-chatr.log"
		[ -f "$T/run$n.log" ] && cp "$T/run$n.log" "$T/var/log/node$n-run.log"
	done
	[ "$(cat "$REPL_LOCK/pid" 2>/dev/null)" = $$ ] && rm -rf "$REPL_LOCK"
	return 0
}
trap 'st=$?; stop_nodes; (exit $st); finish' EXIT

# on N: the next req/stream_open go to node N.
on() {
	BASE="http://127.0.0.1:${NPORT[$1]}"
}

url() {
	echo "http://127.0.0.1:${NPORT[$1]}"
}

# health_is N ROLE MASTER-NODE: node N's /api/health answers 200 with this
# role and the master node's URL.
health_is() {
	local n=$1 role=$2 m=$3
	on "$n"
	req GET /api/health "" --max-time 3
	[ "$STATUS" = 200 ] && printf '%s' "$BODY" | jq -e --arg r "$role" \
	    --arg u "$(url "$m")" '.success == true and .role == $r and
	    .master == $u and (.lastMessageId | test("^[0-9]+$")) and
	    (.streams | type == "number")' >/dev/null 2>&1
}

# group_is MASTER REPLICA...: the roles every node reports, all agreeing.
group_is() {
	local m=$1 r
	shift
	health_is "$m" master "$m" || return 1
	for r in "$@"; do
		health_is "$r" replica "$m" || return 1
	done
}

# master_of NODES...: prints the node whose health says master.
master_of() {
	local n
	for n in "$@"; do
		on "$n"
		req GET /api/health
		if [ "$STATUS" = 200 ] &&
		    [ "$(printf '%s' "$BODY" | jq -r .role)" = master ]; then
			echo "$n"
			return 0
		fi
	done
	return 1
}

# last_id_is N ID: node N's health says the last message is ID.
last_id_is() {
	on "$1"
	req GET /api/health "" --max-time 3
	[ "$STATUS" = 200 ] &&
	    [ "$(printf '%s' "$BODY" | jq -r .lastMessageId)" = "$2" ]
}

# ids_cover IDS ACKED: the ids in file IDS ascend strictly (so none is
# there twice) and include every id in file ACKED.  (A post whose answer was
# lost in the failover may be there too: it was committed, but never
# acknowledged.)
ids_cover() {
	sort -n -u -c "$1" 2>/dev/null || return 1
	[ -z "$(comm -23 <(sort "$2") <(sort "$1"))" ]
}

# stream_holds NAME ACKED: stream NAME's message ids cover ACKED.
stream_holds() {
	stream_ids "$1" >"$T/$1.ids"
	ids_cover "$T/$1.ids" "$2"
}


# balancer NODES...: haproxy-cluster.cfg.example in front of these nodes,
# on port LB_PORT (as the file says, with its SETTING lines made ours).
balancer() {
	local n i=0 subst=()
	LB_PORT=$(free_port)
	subst=(-e "s|bind 127.0.0.1:8080|bind 127.0.0.1:$LB_PORT|"
	    -e "s|/usr/local/share/chatr/errors|$top_srcdir/errors|"
	    -e "s|^\tmaxconn 60000|\tmaxconn 2000|")
	for n in "$@"; do
		i=$((i + 1))
		subst+=(-e "s|^\(\tserver node$i\) 127.0.0.1:808$i|\1 127.0.0.1:${NPORT[$n]}|")
	done
	sed "${subst[@]}" "$top_srcdir/haproxy-cluster.cfg.example" \
	    >"$T/haproxy-cluster.cfg"
	haproxy -db -f "$T/haproxy-cluster.cfg" >>"$T/var/log/haproxy.log" 2>&1 &
	LB_PID=$!
}

# served NAME: stream NAME has had its history event, so its node's relay
# serves it (a node's relay may start a little after its REST programs).
served() {
	stream_wait "$1" 'map(select(.type == "history")) | length == 1' 20
}

# open_streams NODES...: a stream sN on each node N, each checked served.
open_streams() {
	local n
	for n in "$@"; do
		on "$n"
		stream_open "s$n"
	done
	for n in "$@"; do
		check "node $n's stream is served (its history came)" served "s$n"
	done
}

# form_group N: start nodes 1 to N, each joining through all the others,
# and check that one is elected and that every node says so.  Sets M (the
# master's number) and R (the replicas', an array).
form_group() {
	local all i
	all=$(seq 1 "$1")
	for i in $all; do
		start_node "$i" $(printf '%s\n' $all | grep -vx "$i")
	done
	M=
	wait_for 90 master_of $all >/dev/null && M=$(master_of $all)
	check "one of the $1 nodes is elected master" test -n "$M"
	R=()
	for i in $all; do
		[ "$i" = "$M" ] || R+=("$i")
	done
	check "/api/health: the master, and every replica naming it" \
	    wait_for 60 group_is "$M" "${R[@]}"
}

# freeze N / thaw N: SIGSTOP / SIGCONT every process of node N (to the
# others it is gone, though its connections stay open).
freeze() {
	pkill -STOP -f "$T/node$1/" 2>/dev/null || :
}
thaw() {
	pkill -CONT -f "$T/node$1/" 2>/dev/null || :
}
