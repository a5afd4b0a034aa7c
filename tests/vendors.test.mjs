// Twilio and Resend behind vault keys, and one agent run using several.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
const MESSAGES = ["POST /2010-04-01/Accounts/*/Messages.json"];

function sms(kb, key, fields, sid = key.account_sid) {
  return kb.fetch(`/twilio/2010-04-01/Accounts/${sid}/Messages.json`, {
    method: "POST",
    headers: { authorization: basic(key.account_sid, key.token), "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
}

describe("Twilio", () => {
  test("a message goes out on the real account, priced by segment", async () => {
    const { kb, twilio } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: MESSAGES, daily_usd_cap: 1 });
    assert.match(key.account_sid, /^AC[0-9a-f]{32}$/);
    assert.notEqual(key.account_sid, twilio.accountSid);
    const body = `Order ${key.id} shipped. ${"x".repeat(200)}`; // 2 GSM-7 segments
    const res = await sms(kb, key, { To: "+15555550100", From: "+15555550199", Body: body });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.get("keybrake-cost-usd"), "0.0166");
    const [upstream] = received(twilio, key.id);
    assert.equal(upstream.path, `/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`, "the real SID is forwarded");
    assert.equal(upstream.headers.authorization, basic(twilio.accountSid, twilio.authToken));
    assert.ok(!JSON.stringify(upstream).includes(key.token), "the vault key never reaches Twilio");
    assert.equal(upstream.form.Body, body);
    assert.equal(upstream.form.To, "+15555550100");
    assert.equal((await kb.admin(`/v1/keys/${key.id}`)).json.account_sid, key.account_sid);
  });

  test("MMS is flat-priced and non-GSM text is UCS-2", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: MESSAGES, daily_usd_cap: 1 });
    const mms = await sms(kb, key, [["To", "+15555550100"], ["Body", "pic"], ["MediaUrl", "https://x.test/a.png"], ["MediaUrl", "https://x.test/b.png"]]);
    assert.equal(mms.status, 201);
    assert.equal(mms.headers.get("keybrake-cost-usd"), "0.022");
    const ucs2 = await sms(kb, key, { To: "+15555550100", Body: `${"a".repeat(70)}✅` });
    assert.equal(ucs2.headers.get("keybrake-cost-usd"), "0.0166");
  });

  test("another account's SID is refused, and never forwarded", async () => {
    const { kb, twilio } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: MESSAGES });
    const other = await kb.issueKey({ vendor: "twilio", allowed_endpoints: MESSAGES });
    const before = twilio.requests.length;
    for (const sid of [other.account_sid, "AC" + "9".repeat(32)]) {
      const res = await sms(kb, key, { To: "+15555550100", Body: "hi" }, sid);
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.keybrake_code, "account_not_allowed");
      assert.equal(res.json.details.keybrake_code, "account_not_allowed");
      assert.equal(typeof res.json.code, "number");
    }
    assert.equal(twilio.requests.length, before);
    const real = await sms(kb, key, { To: "+15555550100", Body: "real sid works too" }, twilio.accountSid);
    assert.equal(real.status, 201);
  });

  test("bad messages get a 400 naming the problem, and an audit row", async () => {
    const { kb, twilio } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: [...MESSAGES, "POST /2010-04-01/Accounts/*/Calls.json"] });
    const before = twilio.requests.length;
    const long = await sms(kb, key, { To: "+15555550100", Body: "a".repeat(1601) });
    assert.equal(long.status, 400);
    assert.equal(long.json.keybrake_code, "bad_request");
    assert.match(long.json.message, /1601 characters/);
    const broken = await kb.fetch(`/twilio/2010-04-01/Accounts/${key.account_sid}/Messages.json`, {
      method: "POST",
      headers: { authorization: basic(key.account_sid, key.token) },
      body: "To=%2B1555&Body=%E2%zz",
    });
    assert.equal(broken.status, 400);
    const call = await kb.fetch(`/twilio/2010-04-01/Accounts/${key.account_sid}/Calls.json`, {
      method: "POST",
      headers: { authorization: basic(key.account_sid, key.token), "content-type": "application/x-www-form-urlencoded" },
      body: "To=%2B15555550100",
    });
    assert.equal(call.status, 400);
    assert.equal(call.json.keybrake_code, "unpriceable_request");
    assert.equal(twilio.requests.length, before, "nothing bad was forwarded");
    const rows = await kb.auditUntil({ key_id: key.id }, (rows) => rows.length >= 3);
    assert.deepEqual(rows.map((r) => r.code).sort(), ["bad_request", "bad_request", "unpriceable_request"]);
    assert.ok(rows.some((r) => /1601 characters/.test(r.message)));
  });
});

describe("Resend", () => {
  const send = (kb, key, body, headers = {}) =>
    kb.fetch("/resend/emails", { method: "POST", headers: { authorization: `Bearer ${key.token}`, ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const emailKey = (kb, cap = 1) => kb.issueKey({ vendor: "resend", allowed_endpoints: ["POST /emails", "POST /emails/batch"], daily_usd_cap: cap });

  test("an email costs one unit per recipient and reaches Resend with the real key", async () => {
    const { kb, resend } = ctx;
    const key = await emailKey(kb);
    const email = { from: "shop@x.test", to: ["a@x.test", "b@x.test"], cc: "c@x.test", subject: `Receipt ${key.id}`, html: "<p>thanks</p>" };
    const res = await send(kb, key, email);
    assert.equal(res.status, 200, res.text);
    assert.match(res.json.id, /^email_/);
    assert.equal(res.headers.get("keybrake-cost-usd"), "0.0027");
    const [upstream] = received(resend, key.id);
    assert.equal(upstream.headers.authorization, `Bearer ${resend.apiKey}`);
    assert.deepEqual(upstream.json, email);
    assert.equal(upstream.headers["content-type"], "application/json");
  });

  test("a batch sums its emails; limits are enforced before forwarding", async () => {
    const { kb, resend } = ctx;
    const key = await emailKey(kb);
    const batch = Array.from({ length: 3 }, (_, i) => ({ from: "s@x.test", to: [`u${i}@x.test`, `v${i}@x.test`], subject: "s" }));
    const ok = await kb.fetch("/resend/emails/batch", { method: "POST", headers: { authorization: `Bearer ${key.token}` }, body: JSON.stringify(batch) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get("keybrake-cost-usd"), "0.0054");
    const before = resend.requests.length;
    const tooMany = Array.from({ length: 101 }, () => ({ from: "s@x.test", to: "u@x.test", subject: "s" }));
    const big = await kb.fetch("/resend/emails/batch", { method: "POST", headers: { authorization: `Bearer ${key.token}` }, body: JSON.stringify(tooMany) });
    assert.equal(big.status, 400);
    assert.equal(big.json.name, "bad_request");
    assert.match(big.json.message, /101/);
    const crowd = await send(kb, key, { from: "s@x.test", to: Array.from({ length: 51 }, (_, i) => `u${i}@x.test`), subject: "s" });
    assert.equal(crowd.status, 400);
    assert.match(crowd.json.message, /at most 50/);
    const garbage = await send(kb, key, "{not json");
    assert.equal(garbage.status, 400);
    assert.equal(resend.requests.length, before);
  });

  test("Idempotency-Key retries are charged once", async () => {
    const { kb } = ctx;
    const key = await emailKey(kb, 0.0009);
    const email = { from: "s@x.test", to: "once@x.test", subject: "once" };
    const headers = { "idempotency-key": `welcome-${key.id}` };
    const results = await Promise.all([1, 2, 3].map(() => send(kb, key, email, headers)));
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.text).join());
    const fresh = await send(kb, key, email, { "idempotency-key": `other-${key.id}` });
    assert.equal(fresh.status, 429);
    assert.equal(fresh.json.code, "cap_exhausted");
    assert.equal(fresh.json.name, "cap_exhausted", "not a rate_limit_exceeded to retry");
  });
});

describe("several vendors in one run", () => {
  test("keys are single-vendor", async () => {
    const { kb, twilio } = ctx;
    const stripeKey = await kb.issueKey({ allowed_endpoints: ["/2010-04-01/**", "/emails"] });
    const before = twilio.requests.length;
    const res = await kb.fetch(`/twilio/2010-04-01/Accounts/AC${"0".repeat(32)}/Messages.json`, {
      method: "POST",
      headers: { authorization: basic("AC" + "0".repeat(32), stripeKey.token) },
      body: "To=%2B15555550100&Body=hi",
    });
    assert.equal(res.status, 403);
    assert.equal(res.json.keybrake_code, "vendor_mismatch");
    const resend = await kb.fetch("/resend/emails", { method: "POST", headers: { authorization: `Bearer ${stripeKey.token}` }, body: "{}" });
    assert.equal(resend.json.code, "vendor_mismatch");
    assert.equal(twilio.requests.length, before);
  });

  test("a run issues Stripe and Twilio keys in parallel; the audit shows both under its label", async () => {
    const { kb } = ctx;
    const label = "workers-charge-run_multi";
    const [stripeKey, twilioKey] = await Promise.all([
      kb.issueKey({ label, vendor: "stripe", daily_usd_cap: 100 }),
      kb.issueKey({ label, vendor: "twilio", allowed_endpoints: MESSAGES, daily_usd_cap: 1 }),
    ]);
    const charge = await kb.proxy(stripeKey.token, "/stripe/v1/payment_intents", { body: { amount: 2500, currency: "usd" } });
    assert.equal(charge.status, 200);
    const text = await sms(kb, twilioKey, { To: "+15555550100", Body: "Payment received" });
    assert.equal(text.status, 201);
    const rows = await kb.auditUntil({ label }, (rows) => rows.length >= 2);
    assert.deepEqual(rows.map((r) => r.vendor).sort(), ["stripe", "twilio"]);
    assert.deepEqual(rows.map((r) => r.cost_usd).sort(), [0.0083, 25]);
    await Promise.all([stripeKey, twilioKey].map((k) => kb.admin(`/v1/keys/${k.id}`, { method: "DELETE" })));
  });
});
