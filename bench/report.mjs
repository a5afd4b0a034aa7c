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
  const floorAt = (c) => find(report, floor, c);
  const one = (c) => find(report, "Keybrake, one key", c);
  const manyAt = (c) => find(report, "Keybrake, 256 keys round-robin", c);
  const mark = (ok) => (ok ? "met" : "**missed**");
  const targets = [
    ...[1, 16].filter((c) => floorAt(c) && one(c)).map((c) => {
      const added50 = one(c).p50 - floorAt(c).p50;
      const added99 = one(c).p99 - floorAt(c).p99;
      return `| added latency, one key, c=${c} | p50 ≤ 1.0 ms, p99 ≤ 3 ms | +${ms(added50)} / +${ms(added99)} ms | ${mark(added50 <= 1 && added99 <= 3)} |`;
    }),
    ...concurrencies.filter((c) => c > 1 && manyAt(c)).map((c) => `| throughput, 256 keys, c=${c} | ≥ 80 % of the floor | ${Math.round((100 * manyAt(c).rps) / floorAt(c).rps)} % | ${mark(manyAt(c).rps >= 0.8 * floorAt(c).rps)} |`),
    ...concurrencies.filter((c) => c > 1 && one(c)).map((c) => `| throughput, one key, c=${c} | ≥ 50 % of the floor | ${Math.round((100 * one(c).rps) / floorAt(c).rps)} % | ${mark(one(c).rps >= 0.5 * floorAt(c).rps)} |`),
    `| key issuance p50, c=1 | ≤ 5 ms | ${ms(issuance?.p50)} ms | ${mark(issuance?.p50 <= 5)} |`,
    ...["denied: cap exhausted", "denied: endpoint not allowed"].map((s) => {
      const d = find(report, s, 1);
      return `| ${s}, c=1 | faster than an allowed call | ${ms(d.p50)} vs ${ms(one(1).p50)} ms | ${mark(d.p50 < one(1).p50)} |`;
    }),
    `| \`.wasm\` gzip | ≤ 400 KB | ${kb(report.wasm_gzip_bytes)} | ${mark(report.wasm_gzip_bytes <= 400 * 1024)} |`,
    `| first request after start | < 50 ms beyond a warm one | +${(report.startup.first_ms - report.startup.warm_p50_ms).toFixed(1)} ms | ${mark(report.startup.first_ms - report.startup.warm_p50_ms < 50)} |`,
  ].join("\n");
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
  read the answer to record the created object, settle right after replying,
  audit row flushed to D1 by the object's alarm).

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
## Targets

| target | goal | this run | |
| --- | --- | --- | --- |
${targets}

## Where the time goes

A call makes two Durable Object round-trips: reserve before forwarding, and
settle, which is off the response path unless the vendor refused the call
(a release must land before the client's next call). Its audit row reaches
D1 in a batch from the object's alarm about 200 ms later. Under Miniflare every
Durable Object call and, above all, every D1 query is served by the same
local workerd process on the same two cores as everything else; a D1 query
there costs milliseconds, so the audit flushes of 256 keys (one batch per
key) weigh on the many-keys rows more than they would on Cloudflare, where
D1 is remote and each object runs on its own.

## How this scales on Cloudflare

- **One key is one Durable Object**, and one object runs on one thread: every
  call on a key passes through it twice (reserve, then settle) in one
  location. Its ceiling is the "one key" throughput above; Cloudflare
  documents a soft limit of about 1,000 requests a second for one object, so
  one key tops out near 500 calls a second there.
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
