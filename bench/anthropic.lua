-- wrk script: POST an Anthropic Messages request (what Claude Code and the anthropic SDKs send)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("KEY") or "sk-bench"
wrk.headers["anthropic-version"] = "2023-06-01"
local model = os.getenv("MODEL") or "bench-claude"
wrk.body = '{"model":"' .. model .. '","max_tokens":64,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Say hello in one short sentence, please."}]}'
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50)/1000, latency:percentile(90)/1000, latency:percentile(99)/1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
