-- retry-after.lua -- lighttpd (mod_magnet), at the start of every /api/
-- response: a 503 that lighttpd made itself (no program or relay took
-- the request) tells the client when to retry, as chatr's own 503s do.
local r = lighty.r
if r.req_item.http_status == 503 and r.resp_header["Retry-After"] == nil then
	r.resp_header["Retry-After"] = "1"
end
return 0
