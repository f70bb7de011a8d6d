-- wrk script: POST the same body on every request.
--   BENCH_BODY          file holding the body (read once, binary-safe)
--   BENCH_CONTENT_TYPE  Content-Type (default application/json)
--   BENCH_HEADERS       extra headers, "Name: value" separated by newlines (e.g. Inference-Header-Content-Length)
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
