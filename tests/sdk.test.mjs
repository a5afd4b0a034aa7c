// The vendors' official SDKs, configured as the README says, against
// Keybrake served over HTTP by Miniflare and the local fake vendors.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import Stripe from "stripe";
import twilio from "twilio";
import { Resend } from "resend";
import { sleep } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake({}, { port: 0 });

// Stands in for DNS: stripe.keybrake.test → the local Keybrake.
const loopback = new http.Agent({
  keepAlive: true,
  lookup: (_host, options, cb) => (options?.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4)),
});

function stripeClient(token) {
  const { port } = new URL(ctx.kb.url);
  // Host-style routing: Keybrake treats Host stripe.<anything> as Stripe.
  return new Stripe(token, {
    host: "stripe.keybrake.test",
    port: Number(port),
    protocol: "http",
    httpClient: Stripe.createNodeHttpClient(loopback),
    maxNetworkRetries: 2,
  });
}

/** twilio-node's request client, pointed at Keybrake's /twilio prefix. */
class KeybrakeRequestClient extends twilio.RequestClient {
  constructor(base) {
    super();
    this.base = base;
  }
  request(opts) {
    return super.request({ ...opts, uri: opts.uri.replace(/^https:\/\/api\.twilio\.com/, `${this.base}/twilio`) });
  }
}

async function auditCount(keyId, expected) {
  await ctx.kb.auditUntil({ key_id: keyId }, (rows) => rows.length >= expected, 3000);
  // A moment more, so a retry the SDK might send would have landed too.
  await sleep(300);
  return (await ctx.kb.audit({ key_id: keyId })).length;
}

describe("stripe-node", () => {
  test("a call above the approval threshold is an error naming the approval; approved, the same call succeeds once", async () => {
    const { kb, stripe: fake } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 500, constraints: { approval_above_usd: 100 } });
    const stripe = stripeClient(key.token);
    const params = { amount: 25_000, currency: "usd", customer: "cus_sdk_approval" };
    const options = { idempotencyKey: `payout-${key.id}` };
    let approvalId;
    await assert.rejects(stripe.paymentIntents.create(params, options), (err) => {
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, "approval_required");
      approvalId = err.raw.approval_id;
      assert.match(approvalId, /^apr_/);
      assert.equal(err.headers["keybrake-approval-id"], approvalId);
      return true;
    });
    assert.equal(received(fake, "cus_sdk_approval").length, 0);
    assert.equal((await kb.admin(`/v1/approvals/${approvalId}/approve`, { method: "POST" })).status, 200);
    const pi = await stripe.paymentIntents.create(params, options);
    assert.equal(pi.amount, 25_000);
    assert.equal(received(fake, "cus_sdk_approval").length, 1);
  });

  test("creates a payment intent through Keybrake and surfaces its errors without retrying", async () => {
    const { kb, stripe: fake } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 25 });
    const stripe = stripeClient(key.token);
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: "usd", customer: "cus_sdk", metadata: { run: key.id } });
    assert.equal(pi.object, "payment_intent");
    assert.equal(pi.amount, 2000);
    const [upstream] = received(fake, key.id);
    assert.equal(upstream.headers.authorization, `Bearer ${fake.secret}`);
    assert.ok(!JSON.stringify(upstream).includes(key.token));
    assert.equal(upstream.form["metadata[run]"], key.id);
    assert.equal(upstream.form.customer, "cus_sdk");

    await assert.rejects(stripe.paymentIntents.create({ amount: 2000, currency: "usd" }), (err) => {
      assert.equal(err.statusCode, 429);
      assert.equal(err.code, "cap_exhausted");
      assert.equal(err.type, "StripeRateLimitError");
      assert.match(err.message, /daily cap/);
      return true;
    });
    assert.equal(await auditCount(key.id, 2), 2, "stripe-node did not retry the capped call");

    await assert.rejects(stripe.customers.create({ email: "a@x.test" }), (err) => {
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, "endpoint_not_allowed");
      return true;
    });
    await kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
    await assert.rejects(stripe.paymentIntents.retrieve(pi.id), (err) => {
      assert.equal(err.statusCode, 401);
      assert.equal(err.code, "key_revoked");
      return true;
    });
  });
});

describe("twilio-node", () => {
  test("sends a message through Keybrake on the real account and surfaces its errors", async () => {
    const { kb, twilio: fake } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"], daily_usd_cap: 0.01 });
    const client = twilio(key.account_sid, key.token, { httpClient: new KeybrakeRequestClient(kb.url) });
    const message = await client.messages.create({ to: "+15555550100", from: "+15555550199", body: `Your code ${key.id}` });
    assert.match(message.sid, /^SM/);
    assert.equal(message.accountSid, fake.accountSid);
    const [upstream] = received(fake, key.id);
    assert.equal(upstream.path, `/2010-04-01/Accounts/${fake.accountSid}/Messages.json`);
    assert.equal(upstream.headers.authorization, `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString("base64")}`);
    assert.ok(!JSON.stringify(upstream).includes(key.token));
    assert.equal(upstream.form.Body, `Your code ${key.id}`);

    await assert.rejects(client.messages.create({ to: "+15555550100", from: "+15555550199", body: "second" }), (err) => {
      assert.equal(err.status, 429);
      assert.equal(err.code, 90429);
      assert.equal(err.details.keybrake_code, "cap_exhausted");
      assert.match(err.message, /cap_exhausted/);
      return true;
    });
    assert.equal(await auditCount(key.id, 2), 2, "twilio-node did not retry");
    await assert.rejects(client.calls.create({ to: "+15555550100", from: "+15555550199", url: "https://x.test/twiml" }), (err) => {
      assert.equal(err.status, 403);
      assert.equal(err.details.keybrake_code, "endpoint_not_allowed");
      return true;
    });
    await kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
    await assert.rejects(client.messages.create({ to: "+15555550100", from: "+15555550199", body: "x" }), (err) => {
      assert.equal(err.status, 401);
      assert.equal(err.details.keybrake_code, "key_revoked");
      return true;
    });
  });
});

describe("resend-node", () => {
  test("sends an email through Keybrake and returns its errors as results", async () => {
    const { kb, resend: fake } = ctx;
    const key = await kb.issueKey({ vendor: "resend", allowed_endpoints: ["POST /emails"], daily_usd_cap: 0.0018 });
    const resend = new Resend(key.token, { baseUrl: `${kb.url}/resend` });
    const sent = await resend.emails.send({ from: "shop@x.test", to: ["a@x.test", "b@x.test"], subject: key.id, html: "<p>hi</p>" });
    assert.equal(sent.error, null);
    assert.match(sent.data.id, /^email_/);
    const [upstream] = received(fake, key.id);
    assert.equal(upstream.headers.authorization, `Bearer ${fake.apiKey}`);
    assert.deepEqual(upstream.json.to, ["a@x.test", "b@x.test"]);

    const capped = await resend.emails.send({ from: "shop@x.test", to: "c@x.test", subject: "more", html: "x" });
    assert.equal(capped.data, null);
    assert.equal(capped.error.code, "cap_exhausted");
    assert.equal(capped.error.name, "cap_exhausted");
    assert.equal(capped.error.statusCode, 429);
    const list = await resend.domains.list();
    assert.equal(list.error.code, "endpoint_not_allowed");
    await kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
    const revoked = await resend.emails.send({ from: "shop@x.test", to: "c@x.test", subject: "x", html: "x" });
    assert.equal(revoked.error.code, "key_revoked");
  });
});
