// The daily USD cap: reservations in the key's Durable Object, under
// concurrency, with releases, replays and follow-up steps.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

const charge = (kb, key, cents, extra = {}, headers = {}) =>
  kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: cents, currency: "usd", ...extra }, headers });

describe("the cap", () => {
  test("is exhausted at exactly the right call", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 50 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await charge(kb, key, 2000, { description: `exact-${key.id}` })).status);
    assert.deepEqual(statuses, [200, 200, 429, 429]);
    const fits = await charge(kb, key, 1000, { description: `exact-${key.id}` });
    assert.equal(fits.status, 200, "the last $10 still fits");
    assert.equal(fits.headers.get("keybrake-remaining-usd"), "0.00");
    const over = await charge(kb, key, 1, { description: `exact-${key.id}` });
    assert.equal(over.status, 429);
    assert.equal(over.json.code, "cap_exhausted", "the brief's check: err.code === 'cap_exhausted'");
    assert.equal(over.json.error.code, "cap_exhausted");
    assert.equal(over.json.error.type, "invalid_request_error");
    assert.equal(over.headers.get("stripe-should-retry"), "false");
    assert.equal(over.headers.get("keybrake-key-id"), key.id);
    assert.match(over.json.message, /\$0\.01/);
    assert.equal(received(stripe, `exact-${key.id}`).length, 3);
    const state = await kb.settledKey(key.id);
    assert.equal(state.json.spent_today_usd, 50);
    assert.equal(state.json.remaining_today_usd, 0);
    const read = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_1", { method: "GET" });
    assert.equal(read.status, 200, "reads cost nothing and still work at the cap");
  });

  test("100 concurrent $10 calls against $100: exactly 10 reach Stripe", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 100 });
    const marker = `burst-${key.id}`;
    const results = await Promise.all(Array.from({ length: 100 }, () => charge(kb, key, 1000, { description: marker })));
    const ok = results.filter((r) => r.status === 200).length;
    const capped = results.filter((r) => r.status === 429 && r.json.code === "cap_exhausted").length;
    assert.equal(ok, 10);
    assert.equal(capped, 90);
    assert.equal(received(stripe, marker).length, 10);
    const state = await kb.settledKey(key.id);
    assert.equal(state.json.spent_today_usd, 100);
    assert.equal(state.json.reserved_today_usd, 0);
  });

  test("mixed costs with a slow vendor never overspend", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 123.45 });
    const marker = `slow-${key.id}`;
    const slow = (r) =>
      r.body.includes(marker) ? { status: 200, delayMs: 30 + Math.floor(Math.random() * 50), body: { id: `pi_${Math.random().toString(16).slice(2)}`, object: "payment_intent" } } : undefined;
    stripe.respondWith(slow);
    try {
      const costs = Array.from({ length: 150 }, (_, i) => [137, 999, 2500, 4321, 50][i % 5]);
      const results = await Promise.all(costs.map((c) => charge(kb, key, c, { description: marker })));
      const sent = received(stripe, marker).reduce((sum, r) => sum + Number(r.form.amount), 0);
      const allowed = results.map((r, i) => (r.status === 200 ? costs[i] : 0)).reduce((a, b) => a + b, 0);
      assert.ok(sent <= 12345, `reached Stripe: ${sent} cents > cap`);
      assert.equal(sent, allowed, "exactly the allowed calls reached Stripe");
      assert.ok(results.every((r) => r.status === 200 || r.json.code === "cap_exhausted"));
      const state = await kb.settledKey(key.id);
      assert.equal(Math.round(state.json.spent_today_usd * 100), sent);
      // Spend only grows in this burst: every denied call still does not fit.
      results.forEach((r, i) => {
        if (r.status === 429) assert.ok(sent + costs[i] > 12345, `a ${costs[i]}¢ call was denied though it fit`);
      });
    } finally {
      stripe.respondWith(null);
    }
  });
});

describe("releases and replays", () => {
  test("a call Stripe rejects (4xx) frees its reservation at once", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 30 });
    stripe.respondWith((r) => (r.body.includes("decline-me") ? { status: 402, body: { error: { type: "card_error", code: "card_declined" } } } : undefined));
    try {
      const declined = await charge(kb, key, 3000, { description: "decline-me" });
      assert.equal(declined.status, 402);
      const next = await charge(kb, key, 3000, { description: `after-decline-${key.id}` });
      assert.equal(next.status, 200, "the whole cap is usable again");
    } finally {
      stripe.respondWith(null);
    }
  });

  test("a 5xx keeps its reservation: money may have moved", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 30 });
    stripe.respondWith((r) => (r.body.includes("explode") ? { status: 500, body: { error: { type: "api_error" } } } : undefined));
    try {
      const failed = await charge(kb, key, 3000, { description: "explode" });
      assert.equal(failed.status, 500);
      const next = await charge(kb, key, 100);
      assert.equal(next.status, 429);
      assert.equal(next.json.code, "cap_exhausted");
    } finally {
      stripe.respondWith(null);
    }
  });

  test("retries with the same Idempotency-Key are charged once, even concurrently", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 25 });
    const marker = `idem-${key.id}`;
    const headers = { "idempotency-key": `order-${key.id}` };
    const first = await charge(kb, key, 2000, { description: marker }, headers);
    assert.equal(first.status, 200);
    const retries = await Promise.all(Array.from({ length: 5 }, () => charge(kb, key, 2000, { description: marker }, headers)));
    assert.ok(retries.every((r) => r.status === 200), retries.map((r) => r.status).join());
    assert.ok(retries.every((r) => r.headers.get("keybrake-cost-usd") === "0.00"));
    const state = await kb.settledKey(key.id);
    assert.equal(state.json.spent_today_usd, 20);
    const changed = await charge(kb, key, 2100, { description: marker }, headers);
    assert.equal(changed.status, 429, "a different body under the same key is a new charge");
    const fresh = await charge(kb, key, 2000, { description: marker }, { "idempotency-key": `other-${key.id}` });
    assert.equal(fresh.status, 429, "a new key is a new charge");
    assert.equal(received(stripe, marker).length, 6);
  });

  test("concurrent first attempts with one Idempotency-Key reserve once", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 20 });
    const headers = { "idempotency-key": `race-${key.id}` };
    const results = await Promise.all(Array.from({ length: 10 }, () => charge(kb, key, 2000, { description: "race" }, headers)));
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join());
    assert.equal((await kb.settledKey(key.id)).json.spent_today_usd, 20);
  });
});

describe("pricing", () => {
  test("confirming a payment intent this key paid for costs nothing more", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({
      daily_usd_cap: 20,
      allowed_endpoints: ["POST /v1/payment_intents", "POST /v1/payment_intents/*/confirm"],
    });
    const created = await charge(kb, key, 2000);
    assert.equal(created.status, 200);
    const confirm = await kb.proxy(key.token, `/stripe/v1/payment_intents/${created.json.id}/confirm`, { body: {} });
    assert.equal(confirm.status, 200, confirm.text);
    assert.equal(confirm.headers.get("keybrake-cost-usd"), "0.00");
    const foreign = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_someone_else/confirm", { body: {} });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.json.code, "unpriceable_request");
  });

  test("amounts are converted from zero-decimal and configured currencies; unknown ones are refused", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 100 });
    const yen = await charge(kb, key, 1000, { currency: "jpy" });
    assert.equal(yen.status, 200);
    assert.equal(yen.headers.get("keybrake-cost-usd"), "6.80");
    const euro = await charge(kb, key, 1000, { currency: "eur" });
    assert.equal(euro.headers.get("keybrake-cost-usd"), "11.00");
    for (const [body, why] of [
      [{ amount: 100, currency: "xyz" }, /xyz/],
      [{ amount: 100 }, /currency/],
      [{ currency: "usd" }, /amount/],
      [{ amount: "12.5", currency: "usd" }, /whole number/],
    ]) {
      const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.code, "unpriceable_request");
      assert.match(res.json.message, why);
    }
    const bad = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: "{not json", headers: { "content-type": "application/json" } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, "bad_request");
  });
});
