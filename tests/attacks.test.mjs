// What a hostile agent holding a vault key tries, class by class (issue 12
// and docs/threat-model.md): each test sends plain HTTP of the kind the
// vendors' own servers accept, and checks that no money moves beyond the
// cap, nothing reaches the vendor that Keybrake did not price, and no
// secret comes back.
import { createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, sleep } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

// A day and a half of TTL, so a retry can arrive after Stripe forgot its key.
const ctx = useKeybrake({ KEYBRAKE_MAX_TTL: "48h" });
const FORM = { "content-type": "application/x-www-form-urlencoded" };
const bearer = (key) => ({ authorization: `Bearer ${key.token}` });
const basic = (key) => ({ authorization: `Basic ${Buffer.from(`${key.account_sid}:${key.token}`).toString("base64")}` });

/** Sends a raw request through Keybrake. */
function send(path, { method = "POST", headers = {}, body } = {}) {
  return ctx.kb.fetch(path, { method, headers, body });
}

/** Asserts a refusal: its status, Keybrake's code, and that nothing new reached `fake`. */
async function refusedWithNothingForwarded(fake, attempt, { status, code, param, message }) {
  const before = fake.requests.length;
  const res = await attempt();
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers.get("keybrake-error-code"), code, res.text);
  if (param) assert.equal(res.json.error?.param ?? res.json.param, param, res.text);
  if (message) assert.match(res.json.error?.message ?? res.json.message, message);
  assert.equal(fake.requests.length, before, `nothing reached the vendor: ${res.text}`);
  return res;
}

describe("1. default deny: nothing outside the catalogue is priced at $0", () => {
  test("money-moving and secret-minting Stripe writes are refused, naming the endpoint", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ allowed_endpoints: ["/v1/**"], daily_usd_cap: 2 });
    // A refund of a charge this key did not create: its amount is unknown.
    for (const path of ["/v1/charges/ch_1/refund", "/v1/charges/ch_1/refunds"]) {
      await refusedWithNothingForwarded(stripe, () => send(`/stripe${path}`, { headers: { ...bearer(key), ...FORM }, body: "" }), {
        status: 400,
        code: "unpriceable_request",
        message: /ch_1 was not created through this key/,
      });
    }
    for (const [path, body] of [
      ["/v1/application_fees/fee_1/refunds", ""],
      ["/v1/issuing/authorizations/iauth_1/approve", ""],
      ["/v1/customers/cus_1/balance_transactions", "amount=-9999900&currency=usd"],
      ["/v1/customers/cus_1/subscriptions", "items[0][price]=price_1"],
      ["/v1/billing/credit_grants", "amount[type]=monetary&amount[monetary][value]=9999900&amount[monetary][currency]=usd&customer=cus_1"],
      ["/v1/treasury/outbound_payments", "financial_account=fa_1&amount=9999900&currency=usd"],
      ["/v1/webhook_endpoints", "url=https://evil.test/hook&enabled_events[]=*"],
      ["/v1/ephemeral_keys", "customer=cus_1"],
      ["/v1/some_future_endpoint", "note=free"],
    ]) {
      await refusedWithNothingForwarded(stripe, () => send(`/stripe${path}`, { headers: { ...bearer(key), ...FORM }, body }), {
        status: 400,
        code: "unpriceable_request",
        message: new RegExp(`POST ${path.replace(/[[\]]/g, "\\$&")}`),
      });
    }
    const webhook = await send("/stripe/v1/webhook_endpoints", { headers: { ...bearer(key), ...FORM }, body: "url=https://evil.test" });
    assert.match(webhook.json.message, /never forwarded.*signing secret/);
  });

  test("Resend: minting an API key or a webhook secret is never forwarded; unknown paths are refused", async () => {
    const { kb, resend } = ctx;
    const key = await kb.issueKey({
      vendor: "resend",
      allowed_endpoints: ["/api-keys", "/webhooks", "/webhooks/*", "/emails/**", "/inboxes/**", "/broadcasts/**"],
      daily_usd_cap: 1,
    });
    for (const [method, path] of [
      ["POST", "/api-keys"],
      ["POST", "/webhooks"],
      ["GET", "/webhooks/wh_1"],
      ["POST", "/emails/Batch"],
      ["POST", "/inboxes/in_1/drafts/d_1/send"],
      ["POST", "/broadcasts/b_1/send"],
    ]) {
      await refusedWithNothingForwarded(
        resend,
        () => send(`/resend${path}`, { method, headers: { ...bearer(key), "content-type": "application/json" }, body: method === "GET" ? undefined : JSON.stringify({ name: "x", to: "a@x.test" }) }),
        { status: 400, code: "unpriceable_request" },
      );
    }
  });
});

describe("2. a write's query string is refused, not appended", () => {
  test("an update that hides amount, currency and customer in the query moves nothing", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({
      daily_usd_cap: 2,
      allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/*", "/v1/payment_intents/*/confirm"],
      constraints: { max_amount_usd: 1, customers: ["cus_allowed"] },
    });
    const created = await send("/stripe/v1/payment_intents", { headers: { ...bearer(key), ...FORM }, body: "amount=50&currency=usd&customer=cus_allowed" });
    assert.equal(created.status, 200, created.text);
    const id = created.json.id;
    await refusedWithNothingForwarded(
      stripe,
      () =>
        send(`/stripe/v1/payment_intents/${id}?amount=99999900&currency=gbp&customer=cus_other&payment_method=pm_other`, {
          headers: { ...bearer(key), ...FORM },
          body: "",
        }),
      { status: 400, code: "bad_request", param: "query" },
    );
    await refusedWithNothingForwarded(stripe, () => send(`/stripe/v1/payment_intents?amount=99999900`, { headers: { ...bearer(key), ...FORM }, body: "amount=50&currency=usd&customer=cus_allowed" }), {
      status: 400,
      code: "bad_request",
      param: "query",
    });
  });
});

describe("3. the body is read as the vendor reads it, and only Keybrake's encoding is forwarded", () => {
  test("multipart, other charsets and odd content types are refused", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 10 });
    const multipart = [
      "amount=50&currency=usd",
      "--b",
      'Content-Disposition: form-data; name="amount"',
      "",
      "99999900",
      "--b",
      'Content-Disposition: form-data; name="currency"',
      "",
      "usd",
      "--b--",
    ].join("\r\n");
    for (const [contentType, body] of [
      ["multipart/form-data; boundary=b", multipart],
      ["application/x-www-form-urlencoded; charset=utf-16", "amount=50&currency=usd"],
      ["application/x-www-form-urlencoded; charset=iso-8859-1", "amount=50&currency=usd"],
      ["text/plain", "amount=50&currency=usd"],
      ["application/xml", "<amount>50</amount>"],
    ]) {
      const res = await refusedWithNothingForwarded(stripe, () => send("/stripe/v1/payment_intents", { headers: { ...bearer(key), "content-type": contentType }, body }), {
        status: 400,
        code: "bad_request",
      });
      if (!contentType.startsWith("text/plain")) assert.equal(res.json.error.param, "Content-Type", contentType);
    }
  });

  test("keys a Rack-style parser folds, and keys given twice, are refused by name", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 10, constraints: { customers: ["cus_allowed"] } });
    for (const [body, param] of [
      ["amount=50&currency=usd&customer=cus_allowed&amount%5D=99999900", "amount]"],
      ["amount=50&currency=usd&customer=cus_allowed&%5Bamount%5D=99999900", "[amount]"],
      ["amount=50&currency=usd&customer=cus_allowed&customer%5D=cus_other", "customer]"],
      ["amount=50&currency=usd&customer=cus_allowed&customer=cus_other", "customer"],
      ["amount=50&currency=usd&amount=99999900&customer=cus_allowed", "amount"],
    ]) {
      await refusedWithNothingForwarded(stripe, () => send("/stripe/v1/payment_intents", { headers: { ...bearer(key), ...FORM }, body }), {
        status: 400,
        code: "bad_request",
        param,
      });
    }
    const dupJson = await send("/stripe/v1/payment_intents", {
      headers: { ...bearer(key), "content-type": "application/json" },
      body: '{"amount":50,"currency":"usd","customer":"cus_allowed","amount":99999900}',
    });
    assert.equal(dupJson.status, 400);
    assert.match(dupJson.json.message, /twice/);
  });

  test("what reaches Stripe is exactly what was priced, re-encoded by Keybrake", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 10 });
    const marker = `enc-${key.id}`;
    // A raw `;` is a separator to some form parsers: forwarded escaped, it cannot become a second amount.
    const res = await send("/stripe/v1/payment_intents", {
      headers: { ...bearer(key), ...FORM },
      body: `description=${marker};amount=99999900&amount=50&currency=usd`,
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get("keybrake-cost-usd"), "0.50");
    const [upstream] = received(stripe, marker);
    assert.equal(upstream.body, `description=${marker}%3Bamount%3D99999900&amount=50&currency=usd`);
    assert.deepEqual(upstream.formAll.getAll("amount"), ["50"]);
    assert.equal(upstream.headers["content-type"], "application/x-www-form-urlencoded");
  });

  test("a Stripe header Keybrake does not know is refused; unknown others are dropped", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 10 });
    await refusedWithNothingForwarded(stripe, () => send("/stripe/v1/payment_intents", { headers: { ...bearer(key), ...FORM, "stripe-livemode": "false" }, body: "amount=50&currency=usd" }), {
      status: 400,
      code: "bad_request",
      param: "stripe-livemode",
    });
    const marker = `hdr-${key.id}`;
    const ok = await send("/stripe/v1/payment_intents", { headers: { ...bearer(key), ...FORM, "x-forwarded-host": "evil.test", cookie: "a=b" }, body: `amount=50&currency=usd&description=${marker}` });
    assert.equal(ok.status, 200);
    const [upstream] = received(stripe, marker);
    assert.equal(upstream.headers["x-forwarded-host"], undefined);
    assert.equal(upstream.headers.cookie, undefined);
  });
});

describe("4. idempotent retries ride free only on an attempt the vendor acted on", () => {
  test("a retry of a spoiled first attempt still in flight is charged once the vendor refuses the first", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 50 });
    const marker = `spoiled-${key.id}`;
    let seen = 0;
    stripe.respondWith((r) => (r.body.includes(marker) && ++seen === 1 ? { status: 400, delayMs: 300, body: { error: { type: "invalid_request_error", message: "spoiled" } } } : undefined));
    try {
      const headers = { ...bearer(key), ...FORM, "idempotency-key": `idem-${marker}` };
      const body = `amount=2000&currency=usd&description=${marker}`;
      const first = send("/stripe/v1/payment_intents", { headers, body });
      // The retry goes once the first is at Stripe (which holds it 300 ms).
      await eventually(async () => received(stripe, marker).length, (n) => n === 1, { intervalMs: 5, what: "the first attempt to reach Stripe" });
      const retry = await send("/stripe/v1/payment_intents", { headers, body });
      assert.equal((await first).status, 400);
      assert.equal(retry.status, 200, retry.text);
      assert.equal(retry.headers.get("keybrake-cost-usd"), "20.00", "the call that moved money was charged");
      assert.equal((await kb.settledKey(key.id)).json.spent_today_usd, 20);
    } finally {
      stripe.respondWith(null);
    }
  });

  test("a retry on another account or API version is a new call", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 100, allowed_accounts: ["acct_a", "acct_b"] });
    const base = { ...bearer(key), ...FORM, "idempotency-key": `acct-${key.id}` };
    const body = `amount=2000&currency=usd&description=acct-${key.id}`;
    const first = await send("/stripe/v1/payment_intents", { headers: { ...base, "stripe-account": "acct_a" }, body });
    assert.equal(first.headers.get("keybrake-cost-usd"), "20.00");
    const replay = await send("/stripe/v1/payment_intents", { headers: { ...base, "stripe-account": "acct_a" }, body });
    assert.equal(replay.headers.get("keybrake-cost-usd"), "0.00", "the same call replays free");
    const other = await send("/stripe/v1/payment_intents", { headers: { ...base, "stripe-account": "acct_b" }, body });
    assert.equal(other.headers.get("keybrake-cost-usd"), "20.00", "another account is another payment");
    const version = await send("/stripe/v1/payment_intents", { headers: { ...base, "stripe-account": "acct_a", "stripe-version": "2020-08-27" }, body });
    assert.equal(version.headers.get("keybrake-cost-usd"), "20.00", "another API version is another call");
  });

  test("a retry after the vendor forgot the key (24 hours) is charged", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 100, expires_in: "48h" });
    const now = Date.now();
    const headers = { ...bearer(key), ...FORM, "idempotency-key": `late-${key.id}` };
    const body = `amount=2000&currency=usd&description=late-${key.id}`;
    const first = await send("/stripe/v1/payment_intents", { headers: { ...headers, "keybrake-test-now": String(now) }, body });
    assert.equal(first.headers.get("keybrake-cost-usd"), "20.00");
    await kb.settledKey(key.id);
    const soon = await send("/stripe/v1/payment_intents", { headers: { ...headers, "keybrake-test-now": String(now + 60_000) }, body });
    assert.equal(soon.headers.get("keybrake-cost-usd"), "0.00");
    const late = await send("/stripe/v1/payment_intents", { headers: { ...headers, "keybrake-test-now": String(now + 24 * 3600_000 + 60_000) }, body });
    assert.equal(late.status, 200, late.text);
    assert.equal(late.headers.get("keybrake-cost-usd"), "20.00");
  });
});

describe("5. follow-up steps are priced from what the key created", () => {
  test("a payment created in INR cannot switch currency; refunds are in its currency at its price", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({
      daily_usd_cap: 100,
      allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/*", "/v1/payment_intents/*/confirm", "POST /v1/refunds"],
      constraints: { max_amount_usd: 15 },
    });
    // ₹1,000.00 at 0.012 USD per rupee: $12.
    const created = await send("/stripe/v1/payment_intents", { headers: { ...bearer(key), ...FORM }, body: "amount=100000&currency=inr" });
    assert.equal(created.headers.get("keybrake-cost-usd"), "12.00", created.text);
    const id = created.json.id;
    await refusedWithNothingForwarded(stripe, () => send(`/stripe/v1/payment_intents/${id}`, { headers: { ...bearer(key), ...FORM }, body: "currency=usd" }), {
      status: 400,
      code: "unpriceable_request",
      param: "currency",
    });
    // Raising it to ₹2,000.00 ($24) breaks max_amount_usd: checked on the follow-up too.
    await refusedWithNothingForwarded(stripe, () => send(`/stripe/v1/payment_intents/${id}`, { headers: { ...bearer(key), ...FORM }, body: "amount=200000" }), {
      status: 403,
      code: "constraint_violated",
      param: "constraints.max_amount_usd",
    });
    const confirm = await send(`/stripe/v1/payment_intents/${id}/confirm`, { headers: { ...bearer(key), ...FORM }, body: "" });
    assert.equal(confirm.headers.get("keybrake-cost-usd"), "0.00");
    await refusedWithNothingForwarded(stripe, () => send("/stripe/v1/refunds", { headers: { ...bearer(key), ...FORM }, body: `payment_intent=${id}&amount=100&currency=usd` }), {
      status: 400,
      code: "unpriceable_request",
      param: "currency",
    });
    const refund = await send("/stripe/v1/refunds", { headers: { ...bearer(key), ...FORM }, body: `payment_intent=${id}&amount=50000` });
    assert.equal(refund.status, 200, refund.text);
    assert.equal(refund.headers.get("keybrake-cost-usd"), "6.00", "half of the payment, in rupees");
    await refusedWithNothingForwarded(stripe, () => send("/stripe/v1/refunds", { headers: { ...bearer(key), ...FORM }, body: "payment_intent=pi_someone_else" }), {
      status: 400,
      code: "unpriceable_request",
    });
  });
});

describe("6. Twilio: no auth token, prices by destination, PUT like POST", () => {
  test("the account resource is never forwarded, whatever the allowlist", async () => {
    const { kb, twilio } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: ["/2010-04-01/**"], daily_usd_cap: 5 });
    for (const path of [`/2010-04-01/Accounts/${key.account_sid}.json`, "/2010-04-01/Accounts.json", `/2010-04-01/Accounts/${key.account_sid}`]) {
      const res = await refusedWithNothingForwarded(twilio, () => send(`/twilio${path}`, { method: "GET", headers: basic(key) }), { status: 400, code: "unpriceable_request" });
      assert.match(res.json.message, /never forwarded.*auth token/);
      assert.ok(!res.text.includes(twilio.authToken));
    }
  });

  test("messages are priced by destination; unpriced destinations and channels are refused", async () => {
    const { kb, twilio } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: ["/2010-04-01/Accounts/*/Messages.json"], daily_usd_cap: 5 });
    const path = `/twilio/2010-04-01/Accounts/${key.account_sid}/Messages.json`;
    const msg = (fields, method = "POST") => send(path, { method, headers: { ...basic(key), ...FORM }, body: new URLSearchParams(fields).toString() });
    const us = await msg({ To: "+15555550100", From: "+15555550199", Body: "hi" });
    assert.equal(us.headers.get("keybrake-cost-usd"), "0.0083");
    const uk = await msg({ To: "+447700900123", From: "+15555550199", Body: "hi" });
    assert.equal(uk.headers.get("keybrake-cost-usd"), "0.0524");
    const jamaica = await msg({ To: "+18765550123", From: "+15555550199", Body: "hi" });
    assert.equal(jamaica.headers.get("keybrake-cost-usd"), "0.15", "a premium NANP prefix is not priced as the US");
    const mms = await msg({ To: "+15555550100", From: "+15555550199", Body: "hi", SendAsMms: "true" });
    assert.equal(mms.headers.get("keybrake-cost-usd"), "0.022");
    const put = await msg({ To: "+447700900123", From: "+15555550199", Body: "hi" }, "PUT");
    assert.equal(put.status, 201, put.text);
    assert.equal(put.headers.get("keybrake-cost-usd"), "0.0524", "PUT sends a message too, and is priced");
    for (const fields of [
      { To: "+8613800138000", From: "+15555550199", Body: "hi" },
      { To: "whatsapp:+15555550100", From: "whatsapp:+15555550199", Body: "hi" },
      { To: "+447700900123", From: "+15555550199", Body: "hi", SendAsMms: "true" },
    ]) {
      await refusedWithNothingForwarded(twilio, () => msg(fields), { status: 400, code: "unpriceable_request", param: "To" });
    }
    await refusedWithNothingForwarded(twilio, () => msg({ To: "+15555550100", From: "+15555550199", Body: "hi", body: "x".repeat(1500) }), {
      status: 400,
      code: "bad_request",
      param: "body",
    });
    await refusedWithNothingForwarded(twilio, () => send(`${path}?Body=${"x".repeat(1500)}`, { headers: { ...basic(key), ...FORM }, body: "To=%2B15555550100&Body=hi" }), {
      status: 400,
      code: "bad_request",
      param: "query",
    });
  });

  test("a PUT is constrained like a POST", async () => {
    const { kb, twilio } = ctx;
    const key = await kb.issueKey({ vendor: "twilio", allowed_endpoints: ["/2010-04-01/Accounts/*/Messages.json"], daily_usd_cap: 5, constraints: { to: ["+1"] } });
    const path = `/twilio/2010-04-01/Accounts/${key.account_sid}/Messages.json`;
    await refusedWithNothingForwarded(twilio, () => send(path, { method: "PUT", headers: { ...basic(key), ...FORM }, body: "To=%2B447700900123&From=%2B15555550199&Body=hi" }), {
      status: 403,
      code: "constraint_violated",
      param: "constraints.to",
    });
  });
});

describe("7. Resend: every address counts; headers cannot add recipients", () => {
  test("a comma list is every address: priced per address and held to to_domains", async () => {
    const { kb, resend } = ctx;
    const key = await kb.issueKey({ vendor: "resend", allowed_endpoints: ["POST /emails"], daily_usd_cap: 1, constraints: { to_domains: ["x.test"] } });
    const email = (body) => send("/resend/emails", { headers: { ...bearer(key), "content-type": "application/json" }, body: JSON.stringify({ from: "s@x.test", subject: "hi", ...body }) });
    const two = await email({ to: "a@x.test, b@x.test" });
    assert.equal(two.status, 200, two.text);
    assert.equal(two.headers.get("keybrake-cost-usd"), "0.0018");
    await refusedWithNothingForwarded(resend, () => email({ to: "a@x.test, b@evil.test" }), { status: 403, code: "constraint_violated", param: "constraints.to_domains" });
    for (const name of ["Bcc", "Cc", "To", "Resent-To"]) {
      await refusedWithNothingForwarded(resend, () => email({ to: "a@x.test", headers: { [name]: "z@evil.test" } }), { status: 400, code: "bad_request", param: `headers.${name}` });
    }
    await refusedWithNothingForwarded(resend, () => email({ to: "a@x.test", CC: "z@evil.test" }), { status: 400, code: "bad_request", param: "CC" });
  });
});

describe("9. a failed credential is recorded as a failed credential", () => {
  test("a forged token naming a real key writes nothing to that key's audit and is not told its id", async () => {
    const { kb, stripe } = ctx;
    const victim = await kb.issueKey({ daily_usd_cap: 10 });
    const body = victim.token.slice(0, 29) + randomBytes(20).toString("hex");
    const forged = body + createHash("sha256").update(body).digest("hex").slice(0, 8);
    const run = `forged-${victim.id}`;
    const res = await refusedWithNothingForwarded(
      stripe,
      () => send("/stripe/v1/attacker/chosen/path", { headers: { authorization: `Bearer ${forged}`, "keybrake-run-id": run, ...FORM }, body: "amount=1&currency=usd" }),
      { status: 401, code: "invalid_key" },
    );
    assert.equal(res.headers.get("keybrake-key-id"), null, "the forger learns nothing about the key");
    const orphan = await kb.auditUntil({ run_id: run }, (rows) => rows.length === 1);
    assert.equal(orphan.length, 1);
    assert.equal(orphan[0].key_id, null);
    assert.equal(orphan[0].code, "invalid_key");
    // Nothing is expected to arrive: give a misfiled row the time it would take, then look.
    await sleep(500);
    assert.deepEqual(await kb.audit({ key_id: victim.id }), [], "the victim's audit log holds none of it");
  });
});

test("12. a webhook cannot be pointed into the network Keybrake runs in", async () => {
  for (const url of [
    "http://hooks.example.com/plain-http",
    "https://localhost/hook",
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.1.2.3/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://2130706433/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://user:secret@hooks.example.com/hook",
  ]) {
    const res = await ctx.kb.admin("/v1/webhooks", { method: "POST", body: { url, events: ["*"] } });
    assert.equal(res.status, 400, `${url}: ${res.text}`);
    assert.equal(res.json.param, "url");
  }
  const listed = await ctx.kb.admin("/v1/webhooks");
  assert.equal(listed.json.data.length, 0, "nothing was registered");
});
