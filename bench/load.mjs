// The load generator, run as its own process so it does not share an event
// loop with what it measures. autocannon was the first choice, but it rounds
// latencies to whole milliseconds; the targets are sub-millisecond, so this
// client times every request with process.hrtime (µs) over keep-alive
// connections, one connection per concurrent loop.
//
// node bench/load.mjs '{"url", "connections", "warmupMs", "durationMs",
//                       "requests": [{"method", "path", "headers", "body"}]}'
// prints {"count", "rps", "p50", "p90", "p99", "mean", "statuses"} (ms).
import http from "node:http";

const { url, connections, warmupMs, durationMs, requests } = JSON.parse(process.argv[2]);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const prepared = requests.map((r) => ({
  method: r.method,
  path: r.path,
  headers: { ...(r.headers ?? {}), ...(r.body ? { "content-length": Buffer.byteLength(r.body) } : {}) },
  body: r.body,
}));

let next = 0;
let measuring = false;
let stopped = false;
const latencies = [];
const statuses = {};

function once(r) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request({ host: target.hostname, port: target.port, agent, method: r.method, path: r.path, headers: r.headers }, (res) => {
      res.on("data", () => {});
      res.on("end", () => {
        if (measuring) {
          latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        }
        resolve();
      });
    });
    req.on("error", () => {
      if (measuring) statuses.error = (statuses.error ?? 0) + 1;
      resolve();
    });
    req.end(r.body);
  });
}

async function loop() {
  while (!stopped) await once(prepared[next++ % prepared.length]);
}

const loops = Array.from({ length: connections }, loop);
await new Promise((r) => setTimeout(r, warmupMs));
measuring = true;
const began = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, durationMs));
measuring = false;
const elapsed = Number(process.hrtime.bigint() - began) / 1e9;
stopped = true;
await Promise.all(loops);
agent.destroy();

latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? null;
const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
console.log(
  JSON.stringify({
    count: latencies.length,
    rps: Math.round(latencies.length / elapsed),
    p50: round(pct(50)),
    p90: round(pct(90)),
    p99: round(pct(99)),
    mean: round(latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1)),
    statuses,
  }),
);
