// The operator's own catalogue entries (KEYBRAKE_CATALOGUE): they price or
// free what the built-in catalogue refuses, never what it refuses by name,
// and a broken one fails calls closed with a clear error while the
// management API (revocation above all) keeps working.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useKeybrake } from "./support/setup.mjs";

const FORM = { "content-type": "application/x-www-form-urlencoded" };

describe("an operator's entries", () => {
  // Fakes and a Keybrake of this describe's own, with its catalogue.
  const ctx = useKeybrake({
    KEYBRAKE_CATALOGUE: JSON.stringify([
      { vendor: "stripe", endpoint: "POST /v1/invoices/*/pay", rule: "amount", amount: "amount", currency: "usd" },
      { vendor: "stripe", endpoint: "POST /v1/webhook_endpoints", rule: "free" },
      { vendor: "stripe", endpoint: "POST /v1/customers/*/tax_ids", rule: "refused", reason: "tax ids are set by finance" },
    ]),
  });

  test("price an endpoint the catalogue refuses, and refuse one it frees", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ allowed_endpoints: ["/v1/**"], daily_usd_cap: 20 });
    const pay = await kb.proxy(key.token, "/stripe/v1/invoices/in_1/pay", { headers: FORM, body: `amount=1234&note=${key.id}` });
    assert.equal(pay.headers.get("keybrake-cost-usd"), "12.34", pay.text);
    assert.equal(stripe.requests.filter((r) => r.path === "/v1/invoices/in_1/pay").length, 1);
    const before = stripe.requests.length;
    const tax = await kb.proxy(key.token, "/stripe/v1/customers/cus_1/tax_ids", { headers: FORM, body: "type=eu_vat&value=X" });
    assert.equal(tax.status, 400);
    assert.match(tax.json.message, /refused by the operator: tax ids are set by finance/);
    const missing = await kb.proxy(key.token, "/stripe/v1/invoices/in_1/pay", { headers: FORM, body: "note=no-amount" });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.param, "amount");
    assert.equal(stripe.requests.length, before, "neither reached Stripe");
  });

  test("cannot open what the catalogue never forwards", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ allowed_endpoints: ["/v1/**"], daily_usd_cap: 20 });
    const before = stripe.requests.length;
    const hook = await kb.proxy(key.token, "/stripe/v1/webhook_endpoints", { headers: FORM, body: "url=https://evil.test" });
    assert.equal(hook.status, 400);
    assert.match(hook.json.message, /never forwarded/);
    assert.equal(stripe.requests.length, before);
  });
});

describe("a broken catalogue", () => {
  const ctx = useKeybrake({ KEYBRAKE_CATALOGUE: JSON.stringify([{ vendor: "paypal", endpoint: "POST /v1/x", rule: "free" }]) });

  test("fails every call closed naming the entry, and health says so; revocation still works", async () => {
    const { kb, stripe } = ctx;
    const health = await kb.fetch("/healthz");
    assert.equal(health.status, 503);
    assert.equal(health.json.ok, false);
    assert.match(health.json.problems.join("\n"), /KEYBRAKE_CATALOGUE\[0\]\.vendor/);
    const key = await kb.issueKey({ daily_usd_cap: 20 });
    const call = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
    assert.equal(call.status, 503);
    assert.equal(call.json.code, "not_configured");
    assert.match(call.json.message, /KEYBRAKE_CATALOGUE\[0\]\.vendor/);
    assert.equal(stripe.requests.length, 0);
    assert.equal((await kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" })).status, 200);
  });
});
