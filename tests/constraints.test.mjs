// Argument constraints on vault keys, checked on the parsed request before
// anything is forwarded, and limits on a key's life (requests, rate,
// lifetime spend), enforced in the key's Durable Object.
import { test } from "node:test";
import assert from "node:assert/strict";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();
const at = (ms) => ({ "keybrake-test-now": String(ms) });

const issue = (body, headers = {}) => ctx.kb.issueKey(body, { headers });

const stripeKey = (constraints, over = {}, headers = {}) =>
  issue({ label: "c-stripe", vendor: "stripe", allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/**"], daily_usd_cap: 1000, expires_in: "5m", constraints, ...over }, headers);

/** Asserts a refusal naming the constraint, with nothing forwarded. */
async function refused(res, constraint, marker, vendorFake = ctx.stripe) {
  assert.equal(res.status, 403, res.text);
  assert.equal(res.headers.get("keybrake-error-code"), "constraint_violated");
  const body = res.json.error ?? res.json;
  const text = JSON.stringify(body);
  assert.ok(text.includes(`constraints.${constraint}`), `names constraints.${constraint}: ${text}`);
  if (marker) assert.equal(received(vendorFake, marker).length, 0, "nothing was forwarded");
}

test("bad constraints are refused at issue time, naming the field, and nothing is written", async () => {
  const base = { label: "c-bad", vendor: "stripe", allowed_endpoints: ["/v1/payment_intents"], daily_usd_cap: 10, expires_in: "5m" };
  for (const [constraints, param] of [
    [{ to: ["+1"] }, "constraints.to"],
    [{ colour: "red" }, "constraints.colour"],
    [{ currencies: [] }, "constraints.currencies"],
    [{ currencies: ["zzz"] }, "constraints.currencies"],
    [{ max_amount_usd: -5 }, "constraints.max_amount_usd"],
    [{ rate_limit: { requests: 5, per: "fortnight" } }, "constraints.rate_limit"],
    [{ max_requests: 0 }, "constraints.max_requests"],
    [{}, "constraints"],
    ["lots", "constraints"],
  ]) {
    const res = await ctx.kb.admin("/v1/keys", { method: "POST", body: { ...base, constraints } });
    assert.equal(res.status, 400, `${JSON.stringify(constraints)}: ${res.text}`);
    assert.equal(res.json.param, param);
  }
  const twilio = await ctx.kb.admin("/v1/keys", { method: "POST", body: { ...base, vendor: "twilio", allowed_endpoints: ["/2010-04-01/**"], constraints: { to: ["5551234"] } } });
  assert.equal(twilio.json.param, "constraints.to");
  const listed = await ctx.kb.admin("/v1/keys?label_prefix=c-bad");
  assert.equal(listed.json.data.length, 0);
});

test("Stripe: amount per payment, currencies, customers and required metadata", async () => {
  const key = await stripeKey({ max_amount_usd: 50, currencies: ["usd"], customers: ["cus_ok"], metadata: { run: "r1", ticket: null } });
  const shown = await ctx.kb.admin(`/v1/keys/${key.id}`);
  assert.deepEqual(shown.json.constraints, { max_amount_usd: 50, currencies: ["usd"], customers: ["cus_ok"], metadata: { run: "r1", ticket: null } });
  const pay = (body) => ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { currency: "usd", customer: "cus_ok", metadata: { run: "r1", ticket: "t-9" }, ...body } });

  const ok = await pay({ amount: 5000 });
  assert.equal(ok.status, 200, ok.text);
  await refused(await pay({ amount: 5001 }), "max_amount_usd", "amount=5001");
  await refused(await pay({ amount: 4001, currency: "eur" }), "currencies", "amount=4001");
  await refused(await pay({ amount: 4002, customer: "cus_other" }), "customers", "amount=4002");
  await refused(await pay({ amount: 4003, customer: undefined }), "customers", "amount=4003");
  await refused(await pay({ amount: 4004, metadata: { run: "r2", ticket: "t" } }), "metadata", "amount=4004");
  await refused(await pay({ amount: 4005, metadata: { run: "r1" } }), "metadata", "amount=4005");
  // Raising a payment this key created past the limit is refused too.
  const raise = await ctx.kb.proxy(key.token, `/stripe/v1/payment_intents/${ok.json.id}/increment_authorization`, { body: { amount: 6000 } });
  await refused(raise, "max_amount_usd", "amount=6000");

  const rows = await ctx.kb.auditUntil({ key_id: key.id }, (r) => r.length === 8);
  assert.equal(rows.filter((r) => r.code === "constraint_violated").length, 7);
  const spent = await ctx.kb.settledKey(key.id);
  assert.equal(spent.json.spent_today_usd, 50, "only the allowed payment counts");
});

test("Twilio: recipients, senders and segments", async () => {
  const key = await issue({ label: "c-twilio", vendor: "twilio", allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"], daily_usd_cap: 5, expires_in: "5m", constraints: { to: ["+1555"], from: ["+15005550006"], max_segments: 1 } });
  const sms = (form) =>
    ctx.kb.fetch(`/twilio/2010-04-01/Accounts/${key.account_sid}/Messages.json`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.token}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ From: "+15005550006", To: "+15551230000", Body: "hello", ...form }).toString(),
    }).then(async (r) => r);
  const ok = await sms({});
  assert.equal(ok.status, 201, ok.text);
  await refused(await sms({ To: "+447700900123", Body: "to-uk" }), "to", "to-uk", ctx.twilio);
  await refused(await sms({ From: "+15005550009", Body: "other-from" }), "from", "other-from", ctx.twilio);
  await refused(await sms({ Body: "long ".repeat(40) + "two-segments" }), "max_segments", "two-segments", ctx.twilio);
});

test("Resend: sender and recipient domains, recipients per email", async () => {
  const key = await issue({ label: "c-resend", vendor: "resend", allowed_endpoints: ["POST /emails", "POST /emails/batch"], daily_usd_cap: 1, expires_in: "5m", constraints: { from_domains: ["acme.com"], to_domains: ["example.org"], max_recipients: 2 } });
  const send = (path, body) => ctx.kb.proxy(key.token, `/resend${path}`, { body });
  const mail = (over) => ({ from: "Acme <bot@acme.com>", to: ["a@example.org"], subject: "hi", text: "x", ...over });
  assert.equal((await send("/emails", mail({}))).status, 200);
  await refused(await send("/emails", mail({ from: "bot@evil.com", subject: "evil-from" })), "from_domains", "evil-from", ctx.resend);
  await refused(await send("/emails", mail({ cc: ["c@elsewhere.net"], subject: "cc-out" })), "to_domains", "cc-out", ctx.resend);
  await refused(await send("/emails/batch", [mail({ subject: "b1" }), mail({ to: ["a@example.org", "b@example.org"], bcc: ["c@example.org"], subject: "b-three" })]), "max_recipients", "b-three", ctx.resend);
});

test("max_requests: a single-use key is used once, even under concurrency", async () => {
  const key = await stripeKey({ max_requests: 3 });
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100 + i, currency: "usd" } })));
  assert.equal(results.filter((r) => r.status === 200).length, 3);
  const denied = results.filter((r) => r.status === 403);
  assert.equal(denied.length, 7);
  assert.ok(denied.every((r) => r.json.error.param === "constraints.max_requests"));
  const once = await stripeKey({ max_requests: 1 });
  assert.equal((await ctx.kb.proxy(once.token, "/stripe/v1/payment_intents", { body: { amount: 1, currency: "usd" } })).status, 200);
  await refused(await ctx.kb.proxy(once.token, "/stripe/v1/payment_intents", { body: { amount: 2, currency: "usd" } }), "max_requests");
});

test("rate_limit: calls over the window are 429 rate_limited (retryable), and pass again once it moves", async () => {
  const t0 = Date.now();
  const key = await stripeKey({ rate_limit: { requests: 3, per: "minute" } });
  const call = (t, amount) => ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { headers: at(t), body: { amount, currency: "usd" } });
  for (let i = 0; i < 3; i++) assert.equal((await call(t0 + i * 1000, 10 + i)).status, 200);
  const limited = await call(t0 + 5000, 20);
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error.code, "rate_limited");
  assert.equal(limited.headers.get("stripe-should-retry"), "true", "waiting helps, so the SDK may retry");
  assert.equal(received(ctx.stripe, "amount=20&").length, 0);
  assert.equal((await call(t0 + 60_500, 21)).status, 200, "the first call left the window");
});

test("total_usd_cap bounds the key's whole life, across days", async () => {
  const noon = Date.parse("2026-11-20T12:00:00Z");
  const key = await stripeKey({ total_usd_cap: 10 }, { daily_usd_cap: 8, expires_in: "1d" }, at(noon));
  const pay = (t, amount) => ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { headers: at(t), body: { amount, currency: "usd" } });
  assert.equal((await pay(noon, 600)).status, 200);
  const nextDay = noon + 20 * 3600_000;
  assert.equal((await pay(nextDay, 300)).status, 200, "a new day, a fresh daily cap");
  const over = await pay(nextDay + 1000, 200);
  assert.equal(over.status, 429);
  assert.equal(over.json.error.code, "cap_exhausted");
  assert.match(over.json.error.message, /lifetime cap of \$10/);
});
