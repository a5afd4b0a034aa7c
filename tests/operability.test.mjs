// Running Keybrake in production: trace and run ids on the audit rows, one
// structured log line per call, audit retention by cron, and deploy
// readiness (`wrangler deploy --dry-run` of Keybrake and of the example).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { eventually } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ctx = useKeybrake();
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const traceparent = `00-${TRACE}-00f067aa0ba902b7-01`;

test("the caller's traceparent and Keybrake-Run-Id are kept on the audit row and filterable", async () => {
  const key = await ctx.kb.issueKey({ label: "ops-trace" });
  const run = "agent-run-42";
  const ok = await ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", {
    headers: { traceparent, "keybrake-run-id": run },
    body: { amount: 300, currency: "usd" },
  });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(received(ctx.stripe, "amount=300")[0].headers.traceparent, traceparent, "the trace continues to the vendor");
  assert.equal(received(ctx.stripe, "amount=300")[0].headers["keybrake-run-id"], undefined, "Keybrake's own header is not forwarded");
  const denied = await ctx.kb.proxy(key.token, "/stripe/v1/customers", { headers: { traceparent, "keybrake-run-id": run }, body: {} });
  assert.equal(denied.status, 403);

  const rows = await ctx.kb.auditUntil({ run_id: run }, (r) => r.length === 2);
  assert.equal(rows.length, 2);
  assert.ok(rows.every((r) => r.trace_id === TRACE && r.run_id === run && r.key_id === key.id));
  const byTrace = await ctx.kb.admin(`/v1/audit?trace_id=${TRACE}`);
  assert.equal(byTrace.json.data.length, 2);

  // A broken traceparent is ignored (W3C), a broken run id is refused by name.
  const ignored = await ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", {
    headers: { traceparent: "00-zz-00-01", "keybrake-run-id": "run-ignored-trace" },
    body: { amount: 301, currency: "usd" },
  });
  assert.equal(ignored.status, 200);
  const [row] = await ctx.kb.auditUntil({ run_id: "run-ignored-trace" }, (r) => r.length === 1);
  assert.equal(row.trace_id, null);
  const bad = await ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", {
    headers: { "keybrake-run-id": "x".repeat(129) },
    body: { amount: 302, currency: "usd" },
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, "Keybrake-Run-Id");
  assert.equal(received(ctx.stripe, "amount=302").length, 0);
});

test("each proxied call writes one JSON log line with its decision, cost, status and latency", async () => {
  const key = await ctx.kb.issueKey({ label: "ops-logs", daily_usd_cap: 5 });
  const started = Date.now();
  const ok = await ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { headers: { "keybrake-run-id": "run-logs" }, body: { amount: 400, currency: "usd" } });
  const took = Date.now() - started;
  const capped = await ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 400, currency: "usd" } });
  assert.equal(capped.status, 429);
  const lines = () =>
    ctx.kb.logs.flatMap((l) => {
      try {
        const v = JSON.parse(l);
        return v.event === "keybrake.call" ? [v] : [];
      } catch {
        return [];
      }
    });
  const mine = await eventually(async () => lines().filter((l) => l.key_id === key.id), (mine) => mine.length >= 2, {
    intervalMs: 20,
    what: "the key's two keybrake.call log lines",
  });
  const allowed = mine.find((l) => l.request_id === ok.headers.get("keybrake-request-id"));
  assert.ok(allowed, JSON.stringify(mine));
  assert.equal(allowed.label, "ops-logs");
  assert.equal(allowed.vendor, "stripe");
  assert.equal(allowed.decision, "allowed");
  assert.equal(allowed.cost_usd, 4);
  assert.equal(allowed.upstream_status, 200);
  assert.equal(allowed.run_id, "run-logs");
  assert.ok(Number.isInteger(allowed.latency_ms) && allowed.latency_ms >= 0 && allowed.latency_ms <= took, `latency ${allowed.latency_ms} ms, the call took ${took} ms`);
  const denied = mine.find((l) => l.request_id === capped.headers.get("keybrake-request-id"));
  assert.equal(denied.decision, "denied");
  assert.equal(denied.code, "cap_exhausted");
  assert.equal(denied.upstream_status, null);
});

test("the cron trigger prunes audit rows older than the retention, and only those", async () => {
  const db = await ctx.kb.mf.getD1Database("DB", "keybrake");
  const now = Date.parse("2026-11-20T03:17:00Z");
  const day = 86_400_000;
  const insert = db.prepare("INSERT INTO audit (id, method, path, decision, created_at) VALUES (?, 'POST', '/v1/x', 'allowed', ?)");
  await db.batch([
    insert.bind("req_old_1", now - 31 * day),
    insert.bind("req_old_2", now - 30 * day - 1),
    insert.bind("req_edge", now - 30 * day),
    insert.bind("req_new", now - 1 * day),
  ]);
  const worker = await ctx.kb.mf.getWorker("keybrake");
  await worker.scheduled({ scheduledTime: new Date(now), cron: "17 3 * * *" });
  const { results } = await db.prepare("SELECT id FROM audit WHERE id IN ('req_old_1', 'req_old_2', 'req_edge', 'req_new') ORDER BY id").all();
  assert.deepEqual(results.map((r) => r.id), ["req_edge", "req_new"]);
  assert.ok(ctx.kb.logs.some((l) => l.includes('"keybrake.audit_pruned"') && l.includes('"rows":2')));
});

test("wrangler deploy --dry-run bundles Keybrake and the example agent", () => {
  const out = mkdtempSync(path.join(os.tmpdir(), "kb-dry-"));
  try {
    const env = { ...process.env, KEYBRAKE_SKIP_BUILD: "1", WRANGLER_SEND_METRICS: "false" };
    const wrangler = path.join(root, "node_modules/.bin/wrangler");
    const keybrake = execFileSync(wrangler, ["deploy", "--dry-run", "--outdir", path.join(out, "kb")], { cwd: root, env, encoding: "utf8" });
    const size = keybrake.match(/Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/);
    assert.ok(size, keybrake);
    assert.ok(Number(size[2]) < 3 * 1024, "under the free plan's 3 MB compressed");
    assert.match(keybrake, /env\.VAULT_KEY \(VaultKey\)\s+Durable Object/);
    assert.match(keybrake, /env\.DB \(keybrake\)\s+D1 Database/);
    const example = execFileSync(wrangler, ["deploy", "--dry-run", "-c", "examples/wrangler.toml", "--outdir", path.join(out, "ex")], { cwd: root, env, encoding: "utf8" });
    assert.match(example, /env\.KEYBRAKE \(keybrake\)\s+Worker/);
    assert.match(example, /env\.BILLING_WORKFLOW \(BillingWorkflow\)\s+Workflow/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
