// `npm run bench`: Keybrake against the physical floor, on one machine, in
// one run. Serves the release Keybrake Worker and a bare passthrough Worker
// through Miniflare's own HTTP server (not `wrangler dev`, whose inspector
// proxy taxes every fetch, Durable Object call and D1 query), a lean fake
// vendor in its own process, and drives load from another process
// (bench/load.mjs). Writes bench/results/<stamp>.json, bench/results/latest.json
// and docs/benchmarks.md.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { Miniflare } from "miniflare";
import { ADMIN_TOKEN, startKeybrake } from "../tests/support/keybrake.mjs";

// Local Durable Object and D1 state lives in a temporary directory; on a
// disk every SQLite commit waits for an fsync that Cloudflare's storage does
// not charge to the isolate, so the benchmark keeps it in memory (tmpfs)
// where the machine has one. BENCH_STATE_DIR picks another place.
// BENCH_STATE=disk runs the same benchmark with state on this machine's
// disk (every commit waits for its fsync) and records it beside the tmpfs
// run (bench/results/latest-disk.json), as a durable commit is part of what
// a reservation really costs.
const onDisk = process.env.BENCH_STATE === "disk";
const stateDir =
  process.env.BENCH_STATE_DIR ??
  (onDisk ? mkdtempSync(path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."), ".bench-state-")) : existsSync("/dev/shm") ? "/dev/shm" : undefined);
if (stateDir) process.env.TMPDIR = stateDir;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? "1,16,64").split(",").map(Number);
// BENCH_ONLY=<regex> runs the matching scenarios only (for profiling; the
// report then lacks the rest, so a full run is what gets committed).
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, "i") : null;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECRET = "sk_test_bench_upstream_secret";

function startUpstream() {
  const child = spawn(process.execPath, [path.join(root, "bench/upstream.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve) => child.stdout.once("data", (d) => resolve({ child, url: `http://127.0.0.1:${String(d).trim()}` })));
}

/** Runs the load generator in its own process. Asynchronously: this
 * process must keep reading the Workers' logs, or workerd blocks on a full
 * stdout pipe. */
function load(url, connections, requests, durationMs = SECONDS * 1000) {
  const config = JSON.stringify({ url, connections, warmupMs: 1000, durationMs, requests });
  const child = spawn(process.execPath, [path.join(root, "bench/load.mjs"), config], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load.mjs exited ${code}`)))),
  );
}

async function startPassthrough(upstream) {
  const mf = new Miniflare({
    name: "passthrough",
    modules: true,
    scriptPath: path.join(root, "bench/passthrough.mjs"),
    compatibilityDate: "2026-04-01",
    bindings: { UPSTREAM: upstream },
    port: 0,
    host: "127.0.0.1",
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { mf, url };
}

const form = "amount=1&currency=usd";
const charge = (token) => ({
  method: "POST",
  path: "/stripe/v1/payment_intents",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
  body: form,
});

async function main() {
  const upstream = await startUpstream();
  const passthrough = await startPassthrough(upstream.url);
  const kb = await startKeybrake({
    vars: { STRIPE_API_BASE: upstream.url, STRIPE_SECRET_KEY: SECRET, KEYBRAKE_TEST_HOOKS: "0" },
    port: 0,
  });
  const issue = (overrides = {}) =>
    kb.issueKey({ label: "bench", daily_usd_cap: 1_000_000, expires_in: "1d", allowed_endpoints: ["POST /v1/payment_intents"], ...overrides });
  const hot = await issue();
  const many = await Promise.all(Array.from({ length: 256 }, () => issue()));
  // The same load under an account-wide budget (leased to keys in chunks).
  const budgeted = await kb.admin("/v1/budgets", { method: "POST", body: { vendor: "stripe", label_prefix: "bench-budget-", daily_usd_cap: 1_000_000_000 } });
  if (budgeted.status !== 200) throw new Error(`budget: ${budgeted.text}`);
  const underBudget = await Promise.all(Array.from({ length: 256 }, (_, i) => issue({ label: `bench-budget-${i}` })));
  const spent = await issue({ daily_usd_cap: 0.000001 });
  const newKey = {
    method: "POST",
    path: "/v1/keys",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ label: "bench-issue", vendor: "stripe", allowed_endpoints: ["/v1/payment_intents"], daily_usd_cap: 5, expires_in: "5m" }),
  };

  const scenarios = [
    { name: "direct to the fake vendor", url: upstream.url, requests: [{ method: "POST", path: "/v1/payment_intents", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form }] },
    { name: "bare passthrough Worker", url: passthrough.url, requests: [charge(SECRET)] },
    { name: "Keybrake, one key", url: kb.url, requests: [charge(hot.token)] },
    { name: "Keybrake, 256 keys round-robin", url: kb.url, requests: many.map((k) => charge(k.token)) },
    { name: "Keybrake, 256 keys, account budget", url: kb.url, requests: underBudget.map((k) => charge(k.token)) },
    { name: "key issuance (POST /v1/keys)", url: kb.url, requests: [newKey] },
    { name: "denied: cap exhausted", url: kb.url, requests: [charge(spent.token)] },
    { name: "denied: endpoint not allowed", url: kb.url, requests: [{ ...charge(hot.token), path: "/stripe/v1/customers" }] },
  ];
  // Rounds interleave the scenarios, and each row is the median round (by
  // p50): this shared 2-core VM drifts over a minute, and Keybrake is
  // compared with a floor measured seconds, not minutes, apart.
  const rows = new Map();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of CONCURRENCY) {
      for (const s of scenarios) {
        if (ONLY && !ONLY.test(s.name)) continue;
        const r = await load(s.url, c, s.requests);
        const key = `${s.name}\u0000${c}`;
        rows.set(key, [...(rows.get(key) ?? []), r]);
        console.log(`round ${round}  ${s.name.padEnd(34)} c=${String(c).padStart(2)}  p50 ${r.p50} ms  p90 ${r.p90} ms  p99 ${r.p99} ms  ${r.rps} req/s  ${JSON.stringify(r.statuses)}`);
      }
    }
  }
  const results = [];
  for (const s of scenarios) {
    for (const c of CONCURRENCY) {
      const runs = rows.get(`${s.name}\u0000${c}`);
      if (!runs) continue;
      const median = [...runs].sort((a, b) => a.p50 - b.p50)[Math.floor(runs.length / 2)];
      results.push({ scenario: s.name, concurrency: c, ...median, rounds: runs.map(({ p50, p99, rps }) => ({ p50, p99, rps })) });
    }
  }

  // Start-up: the first request of a fresh instance against warm ones.
  const fresh = await startKeybrake({ vars: { STRIPE_API_BASE: upstream.url, STRIPE_SECRET_KEY: SECRET, KEYBRAKE_TEST_HOOKS: "0" }, port: 0 });
  const timeOnce = async () => {
    const t = process.hrtime.bigint();
    await (await fetch(`${fresh.url}/healthz`)).text();
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const first = await timeOnce();
  const warm = [];
  for (let i = 0; i < 30; i++) warm.push(await timeOnce());
  warm.sort((a, b) => a - b);
  await fresh.dispose();

  await kb.dispose();
  await passthrough.mf.dispose();
  upstream.child.kill();

  const wasm = readFileSync(path.join(root, "build/index_bg.wasm"));
  const report = {
    date: new Date().toISOString(),
    commit: execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root }).toString().trim(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    runtime: "Miniflare's own HTTP server (workerd), not wrangler dev",
    // Inside the checkout it is named relative to it: no machine paths in results.
    state_dir: stateDir && stateDir.startsWith(root) ? path.relative(root, stateDir) : (stateDir ?? os.tmpdir()),
    seconds_per_run: SECONDS,
    rounds: ROUNDS,
    wasm_bytes: statSync(path.join(root, "build/index_bg.wasm")).size,
    wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
    startup: { first_ms: Math.round(first * 100) / 100, warm_p50_ms: Math.round(warm[15] * 100) / 100 },
    results,
  };
  if (ONLY) {
    console.log("BENCH_ONLY run: nothing written (a partial run is not a report)");
    return;
  }
  const stamp = report.date.replace(/[:.]/g, "-") + (onDisk ? "-disk" : "");
  writeFileSync(path.join(root, `bench/results/${stamp}.json`), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(path.join(root, `bench/results/${onDisk ? "latest-disk" : "latest"}.json`), JSON.stringify(report, null, 2) + "\n");
  const { renderLatest } = await import("./report.mjs");
  renderLatest();
  console.log(`wrote bench/results/${stamp}.json and docs/benchmarks.md`);
}

try {
  await main();
} finally {
  if (onDisk && !process.env.BENCH_STATE_DIR) rmSync(stateDir, { recursive: true, force: true });
}
