// Renders a benchmark report (bench/run.mjs) as docs/benchmarks.md, with
// the measured floors of bench/floors.mjs when there are some.
// `node bench/report.mjs` re-renders it from bench/results/latest.json.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The run the "before and after" table compares with, if kept. */
export function loadBaseline() {
  const file = path.join(here, "results/baseline.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}
const find = (report, scenario, c) => report.results.find((r) => r.scenario === scenario && r.concurrency === c);
const ms = (x) => (x === null || x === undefined ? "–" : x.toFixed(3));
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : "–");
const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;

/** The runtime's own costs (`npm run bench:floors`), if measured. */
export function loadFloors() {
  const file = path.join(here, "results/floors.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}

/** Each missed target next to what the runtime alone costs for the same
 * work here, so a miss reads as "Keybrake's own share" over a measured floor. */
function floorsSection(report, floors) {
  if (!floors) return "";
  const floor = (place, p, c) => floors.results[place]?.find((r) => r.path === p && r.concurrency === c);
  const added = (place, p, c) => {
    const f = floor(place, p, c);
    const base = floor(place, "/vendor", c);
    return f && base ? f.p50 - base.p50 : undefined;
  };
  const share = (place, p, c) => {
    const f = floor(place, p, c);
    const base = floor(place, "/vendor", c);
    return f && base ? ratio(f.rps, base.rps) : "–";
  };
  const pass = "bare passthrough Worker";
  const one1 = find(report, "Keybrake, one key", 1);
  const one16 = find(report, "Keybrake, one key", 16);
  const many16 = find(report, "Keybrake, 256 keys round-robin", 16);
  const budget16 = find(report, "Keybrake, 256 keys, account budget", 16);
  const p1 = find(report, pass, 1);
  const p16 = find(report, pass, 16);
  const issue = find(report, "key issuance (POST /v1/keys)", 1);
  const rows = [
    [
      "added latency, one key, c=1 (≤ 1 ms p50)",
      one1 && p1 ? `+${ms(one1.p50 - p1.p50)} ms` : "–",
      `two Durable Object round trips with a SQLite commit each: +${ms(added("tmpfs", "/do-sql-twice", 1))} ms (tmpfs), +${ms(added("disk", "/do-sql-twice", 1))} ms (disk); only the first is on the response path`,
    ],
    [
      "throughput, one key, c=16 (≥ 0.5 of the floor)",
      one16 && p16 ? ratio(one16.rps, p16.rps) : "–",
      `the same two round trips alone: ${share("tmpfs", "/do-sql-twice", 16)} (tmpfs), ${share("disk", "/do-sql-twice", 16)} (disk)`,
    ],
    [
      "throughput, 256 keys, c=16 (≥ 0.8 of the floor)",
      many16 && p16 ? ratio(many16.rps, p16.rps) : "–",
      `two round trips ${share("tmpfs", "/do-sql-twice", 16)}, plus a D1 write per call (each key flushes its own outbox): one D1 insert alone ${share("tmpfs", "/d1", 16)} (tmpfs), ${share("disk", "/d1", 16)} (disk)`,
    ],
    [
      "throughput, 256 keys under an account budget ÷ without, c=16 (≥ 0.80)",
      budget16 && many16 ? ratio(budget16.rps, many16.rps) : "–",
      budget16
        ? `a key's first call under a budget leases its chunk from the budget's one object (a round trip and a commit there, serialized across all 256 keys); in a ${report.seconds_per_run} s row after 1 s of warm-up each key makes about ${((budget16.rps * (report.seconds_per_run + 1)) / 256).toFixed(1)} calls, so about ${Math.round((100 * 256) / (budget16.rps * (report.seconds_per_run + 1)))} % of the calls pay that trip, where a longer-lived key pays it once per 16 calls (this is not measured as a floor)`
        : "–",
    ],
    [
      "key issuance p50, c=1 (≤ 5 ms)",
      issue ? `${ms(issue.p50)} ms` : "–",
      `issuance creates the key's object, a new SQLite database (+${ms(added("tmpfs", "/do-new", 1))} ms tmpfs, +${ms(added("disk", "/do-new", 1))} ms disk), side by side with its D1 row (a D1 insert alone: +${ms(added("tmpfs", "/d1", 1))} ms tmpfs, +${ms(added("disk", "/d1", 1))} ms disk), on top of a request the passthrough also pays (${ms(floor("tmpfs", "/vendor", 1)?.p50)} ms tmpfs)`,
    ],
  ];
  // A row whose target this run met is left out of the table of misses.
  const met = [one1 && p1 && one1.p50 - p1.p50 <= 1, one16 && p16 && one16.rps / p16.rps >= 0.5, many16 && p16 && many16.rps / p16.rps >= 0.8, budget16 && many16 && budget16.rps / many16.rps >= 0.8, issue && issue.p50 <= 5];
  rows.forEach((r, i) => (r.missed = !met[i]));
  return `## Missed targets and their measured floors

What the runtime alone costs on this machine for the work each missed
target includes, measured by \`npm run bench:floors\` (${floors.date},
[\`floors.md\`](floors.md)): a Worker that forwards after doing only that
work. Where Keybrake is far above its floor, the rest is its own CPU per
call. A CPU profile of one hot key at c=16 (\`bench/profile.mjs\`, run on
2026-11-29) spreads it thin: SQLite statements about a
tenth, the wasm futures executor's \`queueMicrotask\` about a tenth, then
Request and Response objects, text and JSON decoding, the wasm boundary,
no one Keybrake function above 1 %. What cuts it is fewer trips and
statements per call (one Durable Object round trip, audit rows batched
across keys), not a hot spot.

Calling the object as a method (Durable Object RPC) instead of \`fetch\`
was measured as a floor. Without a commit, RPC is clearly cheaper: at
c=16 one RPC call leaves the passthrough ${share("tmpfs", "/rpc", 16)} of its
throughput against ${share("tmpfs", "/do", 16)} for one \`fetch\` round trip
(tmpfs; ${share("disk", "/rpc", 16)} against ${share("disk", "/do", 16)} on disk). Where the
object commits, as a key's object does on every call, the gain shrinks to
a few points: ${share("tmpfs", "/rpc-sql", 16)} against ${share("tmpfs", "/do-sql", 16)} (tmpfs),
${share("disk", "/rpc-sql", 16)} against ${share("disk", "/do-sql", 16)} (disk). RPC needs a
JavaScript class wrapping the Rust object (workers-rs 0.8 serves
\`fetch\` only); for a gain of that size Keybrake keeps \`fetch\`.

| target | this run | floor for the same work here |
| --- | --- | --- |
${rows
  .filter((r) => r.missed !== false)
  .map((r) => `| ${r.join(" | ")} |`)
  .join("\n")}
${report.wasm_gzip_bytes > 390 * 1024 ? wasmMiss(report) : ""}
`;
}

/** Why the module is over its size goal, and what was tried. */
function wasmMiss(report) {
  return `
**The module's size** (${kb(report.wasm_gzip_bytes)} gzip against 390 KB) has no
runtime floor: it is Keybrake's own code. The goal was met when it was set
(382 KB); approvals, steering a live key, webhooks with their queue, the MCP
server and \`/healthz\`'s checks have since added about 80 KB of routes and
serde (de)serializers. Measured and dropped: binaryen's \`wasm-opt -Oz\`
(the raw module 10 % smaller, the gzipped one 7 % larger) and boxing each
management route's future (4 KB larger). Serving the OpenAPI document as a
static asset instead of compiling it in took 9.5 KB off.
\`tests/drift.test.mjs\` holds the module to its budget so it cannot grow
unnoticed; Workers' limits (3 MB free, 10 MB paid, compressed) are far off.
`;
}

/** Before/after rows for the figures the targets are about. */
function versus(report, baseline) {
  if (!baseline) return "";
  const rows = [
    ["Keybrake, one key", 1],
    ["Keybrake, one key", 16],
    ["Keybrake, 256 keys round-robin", 1],
    ["Keybrake, 256 keys round-robin", 16],
    ["key issuance (POST /v1/keys)", 1],
  ].flatMap(([s, c]) => {
    const a = find(baseline, s, c);
    const b = find(report, s, c);
    const fa = find(baseline, "bare passthrough Worker", c);
    const fb = find(report, "bare passthrough Worker", c);
    if (!a || !b || !fa || !fb) return [];
    return [`| ${s} | ${c} | ${ms(a.p50)} → ${ms(b.p50)} | +${ms(a.p50 - fa.p50)} → +${ms(b.p50 - fb.p50)} | ${a.rps} → ${b.rps} | ${ratio(a.rps, fa.rps)} → ${ratio(b.rps, fb.rps)} |`];
  });
  return `
## Before and after

Against \`bench/results/baseline.json\` (commit \`${baseline.commit}\`, ${baseline.date.slice(0, 10)}, state on disk):

| scenario | c | p50 ms | added p50 ms | req/s | throughput ÷ floor |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}
`;
}

export function render(report, baseline) {
  const concurrencies = [...new Set(report.results.map((r) => r.concurrency))];
  const scenarios = [...new Set(report.results.map((r) => r.scenario))];
  const rows = report.results
    .map((r) => `| ${r.scenario} | ${r.concurrency} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${r.rps} | ${Object.entries(r.statuses).map(([k, v]) => `${k}×${v}`).join(" ")} |`)
    .join("\n");
  const floor = "bare passthrough Worker";
  const compare = ["Keybrake, one key", "Keybrake, 256 keys round-robin", "Keybrake, 256 keys, account budget"]
    .flatMap((s) =>
      concurrencies.map((c) => {
        const k = find(report, s, c);
        const p = find(report, floor, c);
        if (!k || !p) return [];
        return `| ${s} | ${c} | +${ms(k.p50 - p.p50)} | +${ms(k.p99 - p.p99)} | ${ratio(k.p50, p.p50)} | ${ratio(k.p99, p.p99)} | ${ratio(k.rps, p.rps)} |`;
      }),
    )
    .join("\n");
  const issuance = find(report, "key issuance (POST /v1/keys)", 1);
  const floorAt = (c) => find(report, floor, c);
  const one = (c) => find(report, "Keybrake, one key", c);
  const manyAt = (c) => find(report, "Keybrake, 256 keys round-robin", c);
  const budgetAt = (c) => find(report, "Keybrake, 256 keys, account budget", c);
  const mark = (ok) => (ok ? "met" : "**missed**");
  const targets = [
    ...[1, 16].filter((c) => floorAt(c) && one(c)).map((c) => {
      const added50 = one(c).p50 - floorAt(c).p50;
      const added99 = one(c).p99 - floorAt(c).p99;
      return `| added latency, one key, c=${c} | p50 ≤ 1.0 ms, p99 ≤ 3 ms | +${ms(added50)} / +${ms(added99)} ms | ${mark(added50 <= 1 && added99 <= 3)} |`;
    }),
    ...concurrencies.filter((c) => c > 1 && manyAt(c)).map((c) => `| throughput, 256 keys, c=${c} | ≥ 80 % of the floor | ${Math.round((100 * manyAt(c).rps) / floorAt(c).rps)} % | ${mark(manyAt(c).rps >= 0.8 * floorAt(c).rps)} |`),
    ...concurrencies.filter((c) => c > 1 && one(c)).map((c) => `| throughput, one key, c=${c} | ≥ 50 % of the floor | ${Math.round((100 * one(c).rps) / floorAt(c).rps)} % | ${mark(one(c).rps >= 0.5 * floorAt(c).rps)} |`),
    ...concurrencies.filter((c) => c > 1 && budgetAt(c) && manyAt(c)).map((c) => `| throughput, 256 keys under an account budget ÷ without, c=${c} | ≥ 0.80 | ${ratio(budgetAt(c).rps, manyAt(c).rps)} | ${mark(budgetAt(c).rps >= 0.8 * manyAt(c).rps)} |`),
    `| key issuance p50, c=1 | ≤ 5 ms | ${ms(issuance?.p50)} ms | ${mark(issuance?.p50 <= 5)} |`,
    ...["denied: cap exhausted", "denied: endpoint not allowed"].map((s) => {
      const d = find(report, s, 1);
      return `| ${s}, c=1 | faster than an allowed call | ${ms(d.p50)} vs ${ms(one(1).p50)} ms | ${mark(d.p50 < one(1).p50)} |`;
    }),
    `| \`.wasm\` gzip | ≤ 390 KB | ${kb(report.wasm_gzip_bytes)} | ${mark(report.wasm_gzip_bytes <= 390 * 1024)} |`,
    `| first request after start | < 50 ms beyond a warm one | +${(report.startup.first_ms - report.startup.warm_p50_ms).toFixed(1)} ms | ${mark(report.startup.first_ms - report.startup.warm_p50_ms < 50)} |`,
  ].join("\n");
  return `# Benchmarks

Generated by \`npm run bench\` (\`bench/run.mjs\`, rendered by
\`bench/report.mjs\`); do not edit by hand. Every run also leaves its
numbers as JSON in \`bench/results/\`, so runs can be compared.

- ${report.date}, commit \`${report.commit}\`, ${report.machine}.
- Served by ${report.runtime}: under \`wrangler dev\` the inspector proxy adds
  its own cost to every outbound fetch, Durable Object call and D1 query.
- Everything on 127.0.0.1: the fake vendor (\`bench/upstream.mjs\`) and the
  load generator (\`bench/load.mjs\`, µs timing over keep-alive connections)
  each in their own process; ${report.seconds_per_run} s measured per row after
  1 s of warm-up, in ${report.rounds ?? 1} interleaved rounds (each row is the round with the
  median p50). Two cores serve the Workers, the vendor and the load alike.
- Local Durable Object and D1 state in \`${report.state_dir ?? "the temporary directory"}\`.
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

${versus(report, baseline)}
${floorsSection(report, loadFloors())}## Where the time goes

A call makes two Durable Object round-trips: reserve before forwarding
(the only one on the response path) and settle, sent right after the reply
(one trip for the settlements of a key's calls that finish together) unless
the vendor refused the call (a release must land before the
client's next call). Its audit row reaches D1 in a batch from the object's
alarm about 200 ms later. Nothing reads D1 on the proxy path.

A CPU profile of the Worker under load (workerd's inspector, one key, c=16)
found, and the changes since the baseline removed:

- **workers-rs rebuilding responses.** \`Stub::fetch_with_request\` and
  \`Fetch::send\` take every answer apart into a workers-rs \`Response\`; reading
  its body converts it back into a new streamed JS \`Response\`. That cost more
  than the Durable Object call itself (a third of the Worker's profile). The
  key's object and the vendor are now called with the raw \`web_sys\` objects.
- **SQL statements.** A call ran 13 statements in its object; settle now
  claims the reservation with one \`UPDATE … RETURNING\`, the day's totals
  come back from the upsert and live in memory, the flushed outbox rows go in
  one \`DELETE … json_each\`, and the test-only fault switch is not read in
  production: 8 statements per priced create (7 for other calls).
- **Per-call configuration.** The USD rate table was parsed from JSON on every
  call; it is parsed once per isolate. The record is shared, not cloned.
- **Function names in the module.** The \`.wasm\` carried a 315 KB \`name\`
  section (debug names); \`scripts/strip-wasm-names.mjs\` drops it after the
  build (\`KEYBRAKE_KEEP_WASM_NAMES=1\` keeps it for CPU profiles).
- **The module's size.** Built for size (\`opt-level = "z"\`) the gzipped
  \`.wasm\` is 8 % smaller than with \`"s"\` (377 against 410 KiB), and
  alternating partial runs of both builds (one key, c=1 and c=16, four
  runs each) differed by less than the machine's noise: the time per call
  is spent in the runtime, not in wasm code.
- **Disk syncs.** With local state on this VM's disk every SQLite commit waits
  for an fsync; Cloudflare does not charge storage latency to the isolate's CPU.
  The benchmark keeps local state on tmpfs (same code, same SQLite).

Since the baseline, each call also writes one JSON log line (Workers Logs)
and carries what the vendor read for the key's constraints. In a CPU
profile the log line is the largest new cost (its JSON, and under Miniflare
the copy into the Node process that reads workerd's output); together they
took back part of what the fixes above saved on one hot key. This shared VM
also drifts by tens of percent between runs (the floor's own p50 at c=1
ranged from 1.1 to 2.6 ms today), which is why rows are medians of
interleaved rounds and the ratios matter more than the absolute numbers.

What is left is mostly the runtime's own per-call work: two Durable Object
\`fetch\`es (a Request and a Response object each way, headers, JSON bodies),
the vendor \`fetch\`, and the audit flush. On these two cores the Worker, its
objects, D1, the fake vendor and the load generator all compete, so
throughput is bounded by total CPU per call: a bare passthrough spends about
one fetch per call, Keybrake three (reserve, vendor, settle) plus its share
of an audit flush, and a single
\`stub.fetch()\` added to the passthrough already costs 20–25 % of its
throughput on this machine (measured with a bare passthrough Worker). That is why the 80 %
and 50 % throughput targets are out of reach locally, and why "one key" is
*faster* than "256 keys" here: the limit on one machine is CPU, not one
object's serialization, while 256 keys pay one D1 write per call (each key
flushes its own outbox, a batch of one row) where one key batches dozens.
Not taken: audit rows from many keys batched through a Queue into one D1
write, which would bring the 256-key rows toward the one-key rows (it
changes who owns an audit row between the key's outbox and D1, and is
left for its own change); Durable Object RPC, measured above.

## How this scales on Cloudflare

- **One key is one Durable Object**, and one object runs on one thread: every
  call on a key passes through it twice (reserve, then settle). Its own work
  per call is a few hundred microseconds of SQLite and JSON, so the object is
  not the first limit; Cloudflare documents a soft limit of about 1,000
  requests a second for one object, so one key tops out near 500 calls a
  second there. Keys are per run or per session, so load spreads over many
  objects ("256 keys" row), each possibly in another place, and the Worker
  in front scales out on its own.
- **D1** takes one batched write per flush of a key's outbox (up to 50 rows
  and the key's spend), never on the response path. D1 is a single writer:
  with thousands of busy keys, each flushing about every 200 ms, writes add
  up to thousands a second. Raising the flush delay trades audit freshness
  for fewer writes; the durable copy is the object's outbox either way.
- **Account budgets** are one more Durable Object per budget, but calls do
  not pass through it: each key leases a chunk (16 calls' worth, never more
  than a quarter of what is left) and spends it in its own object, so the
  budget sees one request per chunk per key. Idle keys hand leases back
  (\`KEYBRAKE_LEASE_IDLE_MS\`, 10 s), revoked keys at once. The
  "account budget" rows are the 256-key load with every key under one budget.
- **A key hotter than one object can take** (a webhook handler with thousands
  of events a minute): issue several keys, each with its share of the cap,
  and spread calls across them, or issue per-session keys as the product
  brief's Durable Object example does. One hot key is the one thing Keybrake
  cannot spread for you, because its cap must be decided in one place.
`;
}

/** The same comparison with state on disk, from `BENCH_STATE=disk npm run bench`. */
function diskSection(disk) {
  if (!disk) return "";
  const concurrencies = [...new Set(disk.results.map((r) => r.concurrency))];
  const rows = ["Keybrake, one key", "Keybrake, 256 keys round-robin", "Keybrake, 256 keys, account budget", "key issuance (POST /v1/keys)"].flatMap((s) =>
    concurrencies.map((c) => {
      const k = find(disk, s, c);
      const p = find(disk, "bare passthrough Worker", c);
      if (!k || !p) return [];
      return `| ${s} | ${c} | ${ms(k.p50)} | +${ms(k.p50 - p.p50)} | ${ms(k.p99)} | ${k.rps} | ${ratio(k.rps, p.rps)} |`;
    }),
  );
  return `## With state on disk

The same run with local Durable Object and D1 state on this machine's disk
(\`BENCH_STATE=disk npm run bench\`, ${disk.date}, commit \`${disk.commit}\`):
every SQLite commit waits for its fsync, as a durable commit does.

| scenario | c | p50 ms | added p50 ms | p99 ms | req/s | throughput ÷ floor |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

`;
}

/** Renders docs/benchmarks.md from the latest runs on tmpfs and on disk. */
export function renderLatest() {
  const read = (name) => {
    const file = path.join(here, `results/${name}.json`);
    return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
  };
  const latest = read("latest");
  let page = render(latest, loadBaseline());
  const disk = diskSection(read("latest-disk"));
  page = page.replace("## Missed targets and their measured floors", `${disk}## Missed targets and their measured floors`);
  writeFileSync(path.join(here, "../docs/benchmarks.md"), page);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  renderLatest();
}
