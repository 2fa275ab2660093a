-- wrk script: POST a profile file to the collector (bench/load.sh sets PROFILE and TYPE).
local f = assert(io.open(os.getenv("PROFILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.path = "/api/0/profiles?service=load&type=" .. (os.getenv("TYPE") or "cpu") .. "&labels=region%3Deu,version%3D1.4"

function done(summary, latency, requests)
  io.write(string.format("ingest (wrk): %d profiles in %.1f s = %.0f/s; p50 %.1f ms, p99 %.1f ms; %d errors, %d non-2xx\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
