// GET /v1/usage: spend and calls grouped by key, label, vendor or day,
// agreeing with the audit log row for row.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

test("usage per key, label, vendor and day adds up to the audit log", async () => {
  const a = await ctx.kb.issueKey({ label: "u-alpha", daily_usd_cap: 30 });
  const b = await ctx.kb.issueKey({ label: "u-beta", daily_usd_cap: 30 });
  const sms = await ctx.kb.issueKey({ label: "u-alpha", vendor: "twilio", allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"], daily_usd_cap: 1 });
  const pay = (k, amount) => ctx.kb.proxy(k.token, "/stripe/v1/payment_intents", { body: { amount, currency: "usd" } });
  for (const amount of [1000, 1500]) assert.equal((await pay(a, amount)).status, 200);
  assert.equal((await pay(a, 9000)).status, 429, "over the cap: a denied row, no spend");
  assert.equal((await pay(b, 250)).status, 200);
  const text = await ctx.kb.fetch(`/twilio/2010-04-01/Accounts/${sms.account_sid}/Messages.json`, {
    method: "POST",
    headers: { authorization: `Bearer ${sms.token}`, "content-type": "application/x-www-form-urlencoded" },
    body: "To=%2B15550001111&From=%2B15005550006&Body=hi",
  });
  assert.equal(text.status, 201);
  const audit = await ctx.kb.auditUntil({ label_prefix: "u-" }, (rows) => rows.length === 5);
  assert.equal(audit.length, 5);

  const usage = async (q) => {
    const res = await ctx.kb.admin(`/v1/usage?label_prefix=u-&${q}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  };
  const byKey = await usage("group_by=key");
  const auditCost = (pred) => Math.round(audit.filter(pred).reduce((s, r) => s + r.cost_usd, 0) * 1e6) / 1e6;
  assert.equal(byKey.total.calls, 5);
  assert.equal(byKey.total.cost_usd, auditCost(() => true));
  const rowA = byKey.data.find((r) => r.key_id === a.id);
  assert.deepEqual(rowA, { key_id: a.id, label: "u-alpha", calls: 3, allowed: 2, denied: 1, cost_usd: 25 });
  assert.equal(byKey.data[0].key_id, a.id, "largest spend first");

  const byLabel = await usage("group_by=label");
  assert.deepEqual(byLabel.data.map((r) => [r.label, r.calls, r.cost_usd]), [["u-alpha", 4, auditCost((r) => r.label === "u-alpha")], ["u-beta", 1, 2.5]]);
  const byVendor = await usage("group_by=vendor");
  assert.deepEqual(byVendor.data.map((r) => r.vendor).sort(), ["stripe", "twilio"]);
  const byDay = await usage("group_by=day");
  assert.equal(byDay.data.length, 1);
  assert.equal(byDay.data[0].day, new Date().toISOString().slice(0, 10));
  assert.equal(byDay.data[0].cost_usd, byKey.total.cost_usd);

  // A window before these calls is empty.
  const before = await usage(`since=${Date.now() - 3_600_000}&until=${Date.now() - 1_800_000}`);
  assert.deepEqual(before.data, []);
});

test("usage refuses what it does not understand", async () => {
  for (const [q, param] of [["group_by=month", "group_by"], ["since=yesterday", "since"], ["colour=red", "colour"], [`since=${Date.now()}&until=${Date.now() - 1000}`, "since"]]) {
    const res = await ctx.kb.admin(`/v1/usage?${q}`);
    assert.equal(res.status, 400, q);
    assert.equal(res.json.param, param);
  }
  assert.equal((await ctx.kb.fetch("/v1/usage")).status, 401);
});
