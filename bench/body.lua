-- wrk script: POST the body in the file BODY (MODEL_NAME replaced by MODEL), as DIALECT
-- (openai: Authorization Bearer; anthropic: x-api-key + anthropic-version) with KEY; STREAM=1 streams.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("KEY") or "sk-bench"
if os.getenv("DIALECT") == "anthropic" then
  wrk.headers["x-api-key"] = key
  wrk.headers["anthropic-version"] = "2023-06-01"
else
  wrk.headers["Authorization"] = "Bearer " .. key
end
local f = assert(io.open(os.getenv("BODY"), "rb"))
local body = f:read("*a")
f:close()
body = string.gsub(body, "MODEL_NAME", os.getenv("MODEL") or "bench-plain", 1)
-- STREAM=1 asks for a stream when the body does not already (the 1 MB streamed answer reuses chat200k.json)
if os.getenv("STREAM") == "1" and not string.find(body, '"stream":true', 1, true) then
  body = string.gsub(body, "^{", '{"stream":true,', 1)
end
wrk.body = body
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50)/1000, latency:percentile(90)/1000, latency:percentile(99)/1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
