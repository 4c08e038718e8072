# test/integ/mcp-lib.sh -- a scripted MCP client for the tests (bash, jq),
# sourced after lib.sh.  Over stdio it drives chatr-mcp as a coprocess;
# over HTTP it POSTs to the instance's /mcp.  REV says which revision it
# speaks: "modern" (2026-07-28: _meta on every request, and on HTTP the
# MCP-Protocol-Version, Mcp-Method and Mcp-Name headers) or "legacy"
# (2025-11-25: initialize first, then plain requests).

MCP_MODERN=2026-07-28
MCP_LEGACY=2025-11-25
REV=modern
MCP_META='{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"chatr-test","version":"1"}}'

# mcp_msg ID METHOD [PARAMS]: a request as REV sends it (ID "" makes a
# notification).
mcp_msg() {
	local id=$1 method=$2 params=${3:-'{}'}
	if [ "$REV" = modern ]; then
		params=$(jq -c --argjson m "$MCP_META" '. + {_meta: $m}' <<<"$params")
	fi
	if [ -z "$id" ]; then
		jq -cn --arg m "$method" --argjson p "$params" '{jsonrpc: "2.0", method: $m, params: $p}'
	else
		jq -cn --argjson id "$id" --arg m "$method" --argjson p "$params" '{jsonrpc: "2.0", id: $id, method: $m, params: $p}'
	fi
}

# --- stdio ------------------------------------------------------------------
# mcp_start NAME [VAR=value ...]: chatr-mcp as a coprocess, with these
# settings; everything it writes is kept in $T/NAME.out and $T/NAME.err.
mcp_start() {
	MCPN=$1
	shift
	: >"$T/$MCPN.out"
	: >"$T/$MCPN.pending"
	coproc MCPP { exec env "$@" "$top_builddir/mcp/chatr-mcp" 2>>"$T/$MCPN.err"; }
	MCP_IN=${MCPP[1]}
	MCP_FD=${MCPP[0]}
	MCP_PID=$MCPP_PID
}

# mcp_send LINE: one line to chatr-mcp's stdin.
mcp_send() {
	printf '%s\n' "$1" >&"$MCP_IN"
}

# mcp_read_id ID [SECONDS]: the answer to request ID (answers to others
# are kept for later), in RES.  Fails if none comes in time.
mcp_read_id() {
	local id=$1 secs=${2:-15} line end rest
	RES=
	line=$(jq -c --argjson id "$id" 'select(.id == $id)' "$T/$MCPN.pending" 2>/dev/null | head -n 1)
	if [ -n "$line" ]; then
		rest=$(jq -c --argjson id "$id" 'select(.id != $id)' "$T/$MCPN.pending")
		printf '%s' "${rest:+$rest$'\n'}" >"$T/$MCPN.pending"
		RES=$line
		return 0
	fi
	end=$((SECONDS + secs))
	while [ $SECONDS -le $end ]; do
		if ! IFS= read -r -t 1 line <&"$MCP_FD"; then
			[ -n "${MCPP_PID:-}" ] || return 1
			continue
		fi
		printf '%s\n' "$line" >>"$T/$MCPN.out"
		if jq -e --argjson id "$id" '.id == $id' <<<"$line" >/dev/null 2>&1; then
			RES=$line
			return 0
		fi
		printf '%s\n' "$line" >>"$T/$MCPN.pending"
	done
	return 1
}

# mcp_read_any [SECONDS]: the next line, whatever it answers, in RES.
mcp_read_any() {
	RES=
	if IFS= read -r -t "${1:-10}" RES <&"$MCP_FD"; then
		printf '%s\n' "$RES" >>"$T/$MCPN.out"
		return 0
	fi
	return 1
}

# mcp_call ID METHOD [PARAMS]: a request and its answer (RES).
mcp_call() {
	mcp_send "$(mcp_msg "$1" "$2" "${3:-}")"
	mcp_read_id "$1" "${MCP_TIMEOUT:-15}"
}

# mcp_tool ID NAME [ARGS]: tools/call, answer in RES.
mcp_tool() {
	mcp_call "$1" tools/call "$(jq -cn --arg n "$2" --argjson a "${3:-"{}"}" '{name: $n, arguments: $a}')"
}

# mcp_stop: close stdin; chatr-mcp must exit by itself.
mcp_stop() {
	local pid=$MCP_PID i=0
	exec {MCP_IN}>&-
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		return 1
	fi
	wait "$pid" 2>/dev/null || :
	return 0
}

# --- HTTP --------------------------------------------------------------------
# mcp_post ID METHOD [PARAMS [CURL-ARGS...]]: POST /mcp as REV does (the
# modern headers, or the legacy revision's header); STATUS, BODY, RES.
mcp_post() {
	local id=$1 method=$2 params=${3:-'{}'} name
	shift 2
	[ $# -gt 0 ] && shift
	local h=(-H 'Accept: application/json, text/event-stream')
	if [ "$REV" = modern ]; then
		h+=(-H "MCP-Protocol-Version: $MCP_MODERN" -H "Mcp-Method: $method")
		name=$(jq -r '.name // empty' <<<"$params")
		[ "$method" = tools/call ] && [ -n "$name" ] && h+=(-H "Mcp-Name: $name")
	elif [ "$method" != initialize ]; then
		h+=(-H "MCP-Protocol-Version: $MCP_LEGACY")
	fi
	req POST /mcp "$(mcp_msg "$id" "$method" "$params")" "${h[@]}" "$@"
	RES=$BODY
}

# mcp_post_tool ID NAME [ARGS [CURL-ARGS...]]
mcp_post_tool() {
	local id=$1 n=$2 a=${3:-'{}'}
	shift 2
	[ $# -gt 0 ] && shift
	mcp_post "$id" tools/call "$(jq -cn --arg n "$n" --argjson a "$a" '{name: $n, arguments: $a}')" "$@"
}

# --- answers -------------------------------------------------------------------
# has JQ-EXPR: RES satisfies the expression.
has() {
	jq -e "$1" <<<"$RES" >/dev/null 2>&1 && return 0
	printf 'the answer: %s\n' "${RES:0:1500}"
	return 1
}

# the tool result's text and its structured content
res_struct() { jq -c '.result.structuredContent' <<<"$RES"; }
res_text() { jq -r '.result.content[0].text' <<<"$RES"; }
