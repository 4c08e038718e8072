-- post.lua -- wrk script: POST /api/messages with a JSON body and an
-- Authorization header, rotating over the API keys in $WRK_KEYS
-- (comma-separated).  Prints one machine-readable WRK line at the end.
--
--   WRK_KEYS=chatr_...,chatr_... wrk -t2 -c16 -d10s -s post.lua http://127.0.0.1:8080

local keys = {}
for k in string.gmatch(os.getenv("WRK_KEYS") or "", "[^,]+") do
	keys[#keys + 1] = k
end
if #keys == 0 then
	io.stderr:write("post.lua: set WRK_KEYS to one or more API keys\n")
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
	local key = keys[((n + (tid or 0) * 7) % #keys) + 1]
	local body = string.format('{"content":"wrk %d-%d: a short benchmark line"}',
	    tid or 0, n)
	return wrk.format("POST", "/api/messages", {
		["Authorization"] = "Bearer " .. key,
		["Content-Type"] = "application/json",
	}, body)
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
