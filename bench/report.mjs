// Renders a benchmark report (bench/run.mjs) as docs/benchmarks.md.
const find = (report, scenario, c) => report.results.find((r) => r.scenario === scenario && r.concurrency === c);
const ms = (x) => (x === null || x === undefined ? "–" : x.toFixed(3));
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : "–");
const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;

export function render(report) {
  const concurrencies = [...new Set(report.results.map((r) => r.concurrency))];
  const scenarios = [...new Set(report.results.map((r) => r.scenario))];
  const rows = report.results
    .map((r) => `| ${r.scenario} | ${r.concurrency} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${r.rps} | ${Object.entries(r.statuses).map(([k, v]) => `${k}×${v}`).join(" ")} |`)
    .join("\n");
  const floor = "bare passthrough Worker";
  const compare = ["Keybrake, one key", "Keybrake, 256 keys round-robin"]
    .flatMap((s) =>
      concurrencies.map((c) => {
        const k = find(report, s, c);
        const p = find(report, floor, c);
        return `| ${s} | ${c} | +${ms(k.p50 - p.p50)} | +${ms(k.p99 - p.p99)} | ${ratio(k.p50, p.p50)} | ${ratio(k.p99, p.p99)} | ${ratio(k.rps, p.rps)} |`;
      }),
    )
    .join("\n");
  const issuance = find(report, "key issuance (POST /v1/keys)", 1);
  return `# Benchmarks

The latest run of \`npm run bench\` (\`bench/run.mjs\`); every run also leaves
its numbers as JSON in \`bench/results/\`, so runs can be compared.

- ${report.date}, commit \`${report.commit}\`, ${report.machine}.
- Served by ${report.runtime}: under \`wrangler dev\` the inspector proxy adds
  its own cost to every outbound fetch, Durable Object call and D1 query.
- Everything on 127.0.0.1: the fake vendor (\`bench/upstream.mjs\`) and the
  load generator (\`bench/load.mjs\`, µs timing over keep-alive connections)
  each in their own process; ${report.seconds_per_run} s measured per row after
  1 s of warm-up. Two cores serve the Workers, the vendor and the load alike.
- Each proxied call is a priced \`POST /v1/payment_intents\`: Keybrake's full
  path (token check, pricing, reserve in the key's Durable Object, forward,
  settle before replying, audit row flushed to D1 by the object's alarm).

## Results

| scenario | concurrency | p50 ms | p90 ms | p99 ms | req/s | statuses |
| --- | --- | --- | --- | --- | --- | --- |
${rows}

## Keybrake over the physical floor

| scenario | concurrency | added p50 ms | added p99 ms | p50 ÷ floor | p99 ÷ floor | throughput ÷ floor |
| --- | --- | --- | --- | --- | --- | --- |
${compare}

- Key issuance p50 at concurrency 1: ${ms(issuance?.p50)} ms.
- \`.wasm\`: ${kb(report.wasm_bytes)} raw, ${kb(report.wasm_gzip_bytes)} gzip.
- Start-up: the first request of a fresh instance took ${report.startup.first_ms} ms,
  a warm one ${report.startup.warm_p50_ms} ms (p50 of 30).
${scenarios.length ? "" : ""}
## How this scales on Cloudflare

- **One key is one Durable Object**, and one object runs on one thread: every
  call on a key passes through it twice (reserve, then settle) in one
  location. Its ceiling is the "one key" throughput above; on Cloudflare a
  single object handles on the order of a thousand simple requests a second.
  Keys are per run or per session, so load spreads over many objects
  ("256 keys" row), each possibly in another place.
- **D1** takes one batched write per flush of a key's outbox (up to 50 rows
  and the key's spend), not one per call, and never on the response path.
- **A key hotter than one object can take** (a webhook handler with thousands
  of events a minute): issue several keys, each with its share of the cap,
  and spread calls across them, or issue per-session keys as the product
  brief's Durable Object example does. One hot key is the one thing Keybrake
  cannot spread for you, because its cap must be decided in one place.
`;
}
