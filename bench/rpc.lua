-- wrk script for the nodegate benchmark: JSON-RPC server_info over keep-alive.
-- done() prints one "BENCH_RESULT {json}" line that bench/bench.py parses.

wrk.method = "POST"
wrk.body = '{"method":"server_info","params":[{}]}'
wrk.headers["Content-Type"] = "application/json"

local function us(x)
	return math.floor(x + 0.5)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"mean_us":%d,"stdev_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
		summary.requests, summary.duration, summary.bytes,
		us(latency.mean), us(latency.stdev), us(latency:percentile(50)),
		us(latency:percentile(90)), us(latency:percentile(99)), us(latency.max),
		e.connect, e.read, e.write, e.status, e.timeout))
end
