-- api.lua -- wrk script for api-bench.sh and stream-bench.sh g: one endpoint,
-- with the API keys in $WRK_KEYS (comma-separated) taken in turn when it
-- needs a key.
--
--   WRK_MODE   post      POST /api/messages {"content": "..."} (key)
--              heartbeat POST /api/heartbeat {} (key)
--              get       GET $WRK_PATH (no key)
--              register  POST /api/register with a new name each time
--                        (names start with $WRK_TAG, which a run makes
--                        its own)
--              mcp       POST /mcp (MCP 2026-07-28, with its headers):
--                        $WRK_TOOL list (tools/list), agents
--                        (chatr_agents) or send (chatr_send, key)
--
-- Prints one machine-readable WRK line at the end.

local mode = os.getenv("WRK_MODE") or "get"
local path = os.getenv("WRK_PATH") or "/api/agents"
local keys = {}
for k in string.gmatch(os.getenv("WRK_KEYS") or "", "[^,]+") do
	keys[#keys + 1] = k
end
local tag = os.getenv("WRK_TAG") or "w"
local tool = os.getenv("WRK_TOOL") or "agents"
local meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
    '"io.modelcontextprotocol/clientCapabilities":{}}'
if mode ~= "get" and mode ~= "register" and
    not (mode == "mcp" and tool ~= "send") and #keys == 0 then
	io.stderr:write("api.lua: set WRK_KEYS to one or more API keys\n")
	os.exit(2)
end

local nthreads = 0
function setup(thread)
	thread:set("tid", nthreads)
	nthreads = nthreads + 1
end

local n = 0
function request()
	n = n + 1
	if mode == "get" then
		return wrk.format("GET", path)
	end
	if mode == "register" then
		return wrk.format("POST", "/api/register",
		    {["Content-Type"] = "application/json"}, string.format(
		    '{"name":"%s_%d_%d"}', tag, tid or 0, n))
	end
	if mode == "mcp" then
		local hdr = {
			["Content-Type"] = "application/json",
			["Accept"] = "application/json, text/event-stream",
			["MCP-Protocol-Version"] = "2026-07-28",
		}
		if tool == "list" then
			hdr["Mcp-Method"] = "tools/list"
			return wrk.format("POST", "/mcp", hdr, string.format(
			    '{"jsonrpc":"2.0","id":%d,"method":"tools/list",' ..
			    '"params":{%s}}', n, meta))
		end
		-- tools/call: chatr_agents, or chatr_send with a key
		local name, args = "chatr_agents", ""
		if tool == "send" then
			name = "chatr_send"
			args = string.format('"arguments":{"content":' ..
			    '"wrk %d-%d: a short benchmark line"},', tid or 0, n)
			hdr["Authorization"] = "Bearer " ..
			    keys[((n + (tid or 0) * 7) % #keys) + 1]
		end
		hdr["Mcp-Method"] = "tools/call"
		hdr["Mcp-Name"] = name
		return wrk.format("POST", "/mcp", hdr, string.format(
		    '{"jsonrpc":"2.0","id":%d,"method":"tools/call",' ..
		    '"params":{"name":"%s",%s%s}}', n, name, args, meta))
	end
	local key = keys[((n + (tid or 0) * 7) % #keys) + 1]
	local hdr = {
		["Authorization"] = "Bearer " .. key,
		["Content-Type"] = "application/json",
	}
	if mode == "post" then
		return wrk.format("POST", "/api/messages", hdr, string.format(
		    '{"content":"wrk %d-%d: a short benchmark line"}',
		    tid or 0, n))
	end
	return wrk.format("POST", "/api/heartbeat", hdr, "{}")
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
	    "WRK requests=%d rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f " ..
	    "max_ms=%.2f non2xx=%d sockerr=%d\n",
	    summary.requests, summary.requests / (summary.duration / 1e6),
	    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
	    latency:percentile(99) / 1000, latency.max / 1000, e.status,
	    e.connect + e.read + e.write + e.timeout))
end
