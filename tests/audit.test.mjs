// The audit log: every attempt, allowed or denied, reaches D1 with its label,
// cost and outcome, and never a secret.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

test("every attempt is audited, allowed and denied, and costs sum to the spend", async () => {
  const { kb } = ctx;
  const key = await kb.issueKey({ label: "audit-run-1", daily_usd_cap: 45 });
  const attempts = [];
  const call = async (path, init) => attempts.push(await kb.proxy(key.token, path, init));
  for (let i = 0; i < 3; i++) await call("/stripe/v1/payment_intents", { body: { amount: 2000, currency: "usd" } }); // 200, 200, 429
  await call("/stripe/v1/customers", { body: { email: "a@b.c" } }); // 403
  await call("/stripe/v1/payment_intents/pi_1", { method: "GET" }); // 200, free
  await call("/stripe/v1/payment_intents", { body: { amount: 1, currency: "zzz" } }); // 400
  await Promise.all(Array.from({ length: 20 }, () => call("/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } })));
  const rows = await kb.auditUntil({ key_id: key.id }, (rows) => rows.length >= attempts.length);
  assert.equal(rows.length, attempts.length, "one row per attempt");
  const ids = new Set(attempts.map((r) => r.headers.get("keybrake-request-id")));
  assert.deepEqual(new Set(rows.map((r) => r.id)), ids, "rows are the responses' request ids");
  for (const row of rows) {
    assert.equal(row.label, "audit-run-1");
    assert.equal(row.vendor, "stripe");
    assert.equal(row.key_id, key.id);
    const res = attempts.find((a) => a.headers.get("keybrake-request-id") === row.id);
    if (res.json?.code) {
      assert.equal(row.decision, "denied");
      assert.equal(row.code, res.json.code);
      assert.equal(row.cost_usd, 0);
      assert.equal(row.upstream_status, null);
    } else {
      assert.equal(row.decision, "allowed");
      assert.equal(row.upstream_status, res.status);
      assert.equal(String(row.cost_usd.toFixed(2)), res.headers.get("keybrake-cost-usd"));
    }
  }
  const spent = rows.reduce((s, r) => s + Math.round(r.cost_usd * 1e6), 0);
  const state = await kb.settledKey(key.id);
  assert.equal(spent, Math.round(state.json.spent_today_usd * 1e6));
  assert.equal(state.json.spent_today_usd, 45);
  const denied = rows.filter((r) => r.decision === "denied").map((r) => r.code).sort();
  assert.ok(denied.includes("cap_exhausted") && denied.includes("endpoint_not_allowed") && denied.includes("unpriceable_request"), denied.join());
  const list = await kb.admin("/v1/keys?label_prefix=audit-run-1");
  assert.equal(list.json.data[0].spent_today_usd, 45, "the key list shows the flushed spend");
});

test("attempts with no valid key are audited too", async () => {
  const { kb } = ctx;
  const res = await kb.fetch("/stripe/v1/payment_intents", { method: "POST", headers: { authorization: "Bearer sk_test_pretending_to_be_a_vault_key" } });
  assert.equal(res.status, 401);
  const id = res.headers.get("keybrake-request-id");
  const rows = await kb.auditUntil({ decision: "denied" }, (rows) => rows.some((r) => r.id === id));
  const row = rows.find((r) => r.id === id);
  assert.ok(row, "the invalid attempt is in the log");
  assert.equal(row.code, "invalid_key");
  assert.equal(row.key_id, null);
  assert.ok(!JSON.stringify(row).includes("sk_test_pretending_to_be_a_vault_key"), "the presented credential is not logged");
});

test("filters, paging and bad queries", async () => {
  const { kb } = ctx;
  const a = await kb.issueKey({ label: "filter-a" });
  const b = await kb.issueKey({ label: "filter-b" });
  for (let i = 0; i < 5; i++) await kb.proxy(a.token, "/stripe/v1/payment_intents/pi_1", { method: "GET" });
  await kb.proxy(b.token, "/stripe/v1/customers", { method: "GET" });
  const rowsA = await kb.auditUntil({ label: "filter-a" }, (rows) => rows.length >= 5);
  assert.equal(rowsA.length, 5);
  const rowsB = await kb.auditUntil({ key_id: b.id, decision: "denied" }, (rows) => rows.length >= 1);
  assert.equal(rowsB.length, 1);
  assert.equal(rowsB[0].code, "endpoint_not_allowed");
  const page = await kb.admin(`/v1/audit?label=filter-a&limit=2`);
  assert.equal(page.json.data.length, 2);
  const page2 = await kb.admin(`/v1/audit?label=filter-a&limit=2&cursor=${page.json.next_cursor}`);
  assert.equal(page2.json.data.length, 2);
  assert.ok(page2.json.data.every((r) => !page.json.data.some((p) => p.id === r.id)));
  const times = rowsA.map((r) => Date.parse(r.created_at));
  assert.deepEqual(times, [...times].sort((x, y) => y - x), "newest first");
  const future = await kb.admin(`/v1/audit?label=filter-a&since=${Date.now() + 60_000}`);
  assert.equal(future.json.data.length, 0);
  const window = await kb.admin(`/v1/audit?label=filter-a&since=${encodeURIComponent(new Date(times.at(-1)).toISOString())}&until=${times[0] + 1}`);
  assert.equal(window.json.data.length, 5);
  for (const bad of ["since=yesterday", "until=2026-13-01", "decision=maybe", "limit=5000", "cursor=%%%", "foo=bar"]) {
    const res = await kb.admin(`/v1/audit?${bad}`);
    assert.equal(res.status, 400, bad);
    assert.equal(res.json.param, bad.split("=")[0]);
  }
});

test("the audit log never contains a secret or a full vault key", async () => {
  const { kb, stripe } = ctx;
  const key = await kb.issueKey({ label: "secret-scan" });
  await kb.proxy(key.token, `/stripe/v1/payment_intents?token=${key.token}`, { body: { amount: 100, currency: "usd", description: "scan" } });
  await kb.proxy(key.token, "/stripe/v1/customers", { method: "GET" });
  const rows = await kb.auditUntil({}, (rows) => rows.filter((r) => r.label === "secret-scan").length >= 2);
  const text = JSON.stringify(rows);
  assert.ok(!text.includes(stripe.secret));
  assert.ok(!text.includes(key.token));
  assert.ok(!text.includes(key.token.slice(29, 69)), "not even the token's secret part");
  const everything = kb.seen.join("\n");
  assert.ok(!everything.includes(stripe.secret), "no response carried the Stripe secret");
  // D1 holds no token at all: the key's object keeps only its SHA-256.
  const db = await kb.mf.getD1Database("DB", "keybrake");
  const dump = JSON.stringify([(await db.prepare("SELECT * FROM keys").all()).results, (await db.prepare("SELECT * FROM audit").all()).results]);
  assert.ok(dump.includes(key.id), "the dump covers this key");
  for (const token of kb.issuedTokens.keys()) assert.ok(!dump.includes(token.slice(29, 69)), "no token secret in D1");
  assert.ok(!dump.includes(stripe.secret));
});
