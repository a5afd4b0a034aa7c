// Account-wide budgets: a daily cap per vendor (and label prefix) across
// every key, exact under concurrency, leased to keys in chunks so the
// budget's object is not on every call's path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { received, useKeybrake } from "./support/setup.mjs";

// Idle keys hand leases back after 1 s here (10 s by default).
const ctx = useKeybrake({ KEYBRAKE_LEASE_IDLE_MS: "1000" });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function budget(body) {
  const res = await ctx.kb.admin("/v1/budgets", { method: "POST", body });
  assert.equal(res.status, 200, res.text);
  return res.json;
}
const pay = (key, amount, extra = {}) => ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount, currency: "usd", ...extra } });

test("bad budgets are refused by field, and only the admin sets them", async () => {
  for (const [body, param] of [
    [{ vendor: "paypal", daily_usd_cap: 5 }, "vendor"],
    [{ vendor: "stripe", daily_usd_cap: 0 }, "daily_usd_cap"],
    [{ vendor: "stripe", daily_usd_cap: 5, colour: "red" }, "colour"],
    [{ vendor: "stripe", label_prefix: "", daily_usd_cap: 5 }, "label_prefix"],
  ]) {
    const res = await ctx.kb.admin("/v1/budgets", { method: "POST", body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.json.param, param);
  }
  assert.equal((await ctx.kb.admin("/v1/budgets")).json.data.length, 0, "nothing was written");
});

test("the account cap holds under a concurrent burst across many keys, and is spent exactly", async () => {
  const b = await budget({ vendor: "stripe", label_prefix: "acct-", daily_usd_cap: 50 });
  const keys = [];
  for (let i = 0; i < 10; i++) keys.push(await ctx.kb.issueKey({ label: `acct-${i}`, daily_usd_cap: 100 }));
  const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => pay(keys[i % 10], 100, { description: `burst-${i}` })));
  const allowed = burst.filter((r) => r.status === 200).length;
  const denied = burst.filter((r) => r.status === 429);
  assert.ok(allowed <= 50, `${allowed} calls of $1 under a $50 budget`);
  assert.equal(allowed + denied.length, 100);
  assert.ok(denied.every((r) => r.json.error.param === `budget:${b.id}`), "refusals name the budget");
  assert.equal(received(ctx.stripe, "burst-").length, allowed, "exactly the allowed calls reached Stripe");
  const state = await ctx.kb.admin(`/v1/budgets/${b.id}`);
  assert.ok(state.json.leased_today_usd <= 50);

  // Idle keys hand their unspent leases back; one key can then spend the
  // rest, to the cent.
  await sleep(1600);
  let more = 0;
  for (;;) {
    const r = await pay(keys[0], 100, { description: "after" });
    if (r.status !== 200) {
      assert.equal(r.status, 429);
      break;
    }
    more += 1;
    assert.ok(more <= 50, "runaway");
  }
  assert.equal(allowed + more, 50, "the whole budget, and not a cent more");
  const spent = await Promise.all(keys.map((k) => ctx.kb.settledKey(k.id)));
  assert.equal(spent.reduce((s, r) => s + r.json.spent_today_usd, 0), 50);
});

test("a budget binds keys issued before it and matching its prefix only; released calls give it back", async () => {
  const early = await ctx.kb.issueKey({ label: "late-1", daily_usd_cap: 100 });
  const other = await ctx.kb.issueKey({ label: "elsewhere-1", daily_usd_cap: 100 });
  const b = await budget({ vendor: "stripe", label_prefix: "late-", daily_usd_cap: 2 });
  assert.equal(b.attached_keys, 1);
  // A declined card is a 4xx: released, so the budget is not spent by it.
  assert.equal((await pay(early, 150, { payment_method: "pm_card_chargeDeclined" })).status, 402);
  assert.equal((await pay(early, 200)).status, 200, "the whole $2 is still there");
  const over = await pay(early, 1);
  assert.equal(over.status, 429);
  assert.equal(over.json.error.param, `budget:${b.id}`);
  assert.equal((await pay(other, 500)).status, 200, "a key outside the prefix is not bound");
  // Raising the budget takes effect for the same keys.
  await budget({ vendor: "stripe", label_prefix: "late-", daily_usd_cap: 3 });
  assert.equal((await pay(early, 100)).status, 200);
  // Deleting it frees them.
  assert.equal((await ctx.kb.admin(`/v1/budgets/${b.id}`, { method: "DELETE" })).status, 200);
  assert.equal((await pay(early, 500)).status, 200);
  assert.equal((await ctx.kb.admin(`/v1/budgets/${b.id}`)).status, 404);
});

test("revoking a key hands its lease back at once", async () => {
  const b = await budget({ vendor: "stripe", label_prefix: "lease-", daily_usd_cap: 100 });
  const k = await ctx.kb.issueKey({ label: "lease-1", daily_usd_cap: 100 });
  assert.equal((await pay(k, 100)).status, 200);
  const leased = (await ctx.kb.admin(`/v1/budgets/${b.id}`)).json.leased_today_usd;
  assert.ok(leased > 1, `a chunk was leased (${leased})`);
  await ctx.kb.admin(`/v1/keys/${k.id}`, { method: "DELETE" });
  assert.equal((await ctx.kb.admin(`/v1/budgets/${b.id}`)).json.leased_today_usd, 1, "only what was spent stays leased");
});
