// The Stripe proxy: what reaches the vendor, what never does, and how
// Keybrake's own refusals look.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { received, useKeybrake, withKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

describe("the brief's flow end to end", () => {
  test("issue, create a payment intent through the proxy, revoke", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ label: "workers-charge-wf_e2e" });
    const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", {
      headers: { "content-type": "application/json", "stripe-version": "2024-06-20", "idempotency-key": "e2e-1" },
      body: { amount: 2000, currency: "usd", customer: "cus_e2e", metadata: { run: "wf_e2e" } },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, "payment_intent");
    assert.equal(res.json.amount, 2000);
    assert.equal(res.headers.get("keybrake-key-id"), key.id);
    assert.equal(res.headers.get("keybrake-cost-usd"), "20.00");
    assert.equal(res.headers.get("keybrake-remaining-usd"), "480.00");
    assert.match(res.headers.get("keybrake-request-id"), /^req_[0-9a-f]{24}$/);

    const [upstream] = received(stripe, "cus_e2e");
    assert.ok(upstream, "the call reached Stripe");
    assert.equal(upstream.method, "POST");
    assert.equal(upstream.path, "/v1/payment_intents");
    assert.equal(upstream.headers.authorization, `Bearer ${stripe.secret}`, "upstream saw the real secret");
    assert.ok(!JSON.stringify(upstream.headers).includes(key.token), "upstream never saw the vault key");
    assert.equal(upstream.headers["content-type"], "application/x-www-form-urlencoded");
    assert.deepEqual(upstream.form, { amount: "2000", currency: "usd", customer: "cus_e2e", "metadata[run]": "wf_e2e" });
    assert.equal(upstream.headers["stripe-version"], "2024-06-20");
    assert.equal(upstream.headers["idempotency-key"], "e2e-1");

    const del = await kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
    assert.equal(del.status, 200);
    const before = stripe.requests.length;
    const after = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
    assert.equal(after.status, 401);
    assert.equal(after.json.code, "key_revoked");
    assert.equal(after.json.error.code, "key_revoked");
    assert.equal(stripe.requests.length, before, "a revoked key reaches nothing");
  });

  test("form bodies, query strings and Stripe's Basic auth pass through (the body as Keybrake encodes it)", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey();
    const res = await kb.fetch("/stripe/v1/payment_intents", {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${key.token}:`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "amount=150&currency=usd&expand[]=customer&description=basic-form",
    });
    assert.equal(res.status, 200, res.text);
    const [upstream] = received(stripe, "basic-form");
    // The same parameters, in Keybrake's own encoding: never the client's bytes.
    assert.equal(upstream.body, "amount=150&currency=usd&expand%5B%5D=customer&description=basic-form");
    assert.deepEqual([...upstream.formAll], [["amount", "150"], ["currency", "usd"], ["expand[]", "customer"], ["description", "basic-form"]]);
    const get = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_123?expand[]=customer", { method: "GET" });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("keybrake-cost-usd"), "0.00");
    const last = stripe.requests.at(-1);
    assert.equal(last.path, "/v1/payment_intents/pi_123");
    assert.equal(decodeURIComponent(last.query), "?expand[]=customer");
  });
});

describe("endpoint allowlist", () => {
  test("calls outside the allowlist never reach Stripe", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ allowed_endpoints: ["/v1/payment_intents", "GET /v1/payment_intents/*"] });
    const before = stripe.requests.length;
    const denied = [
      ["POST", "/stripe/v1/customers", 403],
      ["POST", "/stripe/v1/payment_intents/pi_1", 403],
      ["POST", "/stripe/v1/payment_intents/pi_1/confirm", 403],
      ["DELETE", "/stripe/v1/payment_intents/pi_1", 403],
      ["GET", "/stripe/v1/payment_intents/pi_1/../../customers", 403],
      ["GET", "/stripe/v1/payment_intents/%2e%2e/customers", 403],
      ["GET", "/stripe/v1/payment_intents/pi_1%2F..%2F..%2Fcustomers", 400],
      ["GET", "/stripe/v1/payment_intents/%2Fcustomers", 400],
      ["GET", "/stripe/v1//payment_intents/pi_1", 400],
      ["GET", "/stripe/v1/payment_intents/pi_1/", 400],
      ["GET", "/stripe/v1/payment_intents/pi%00", 400],
      ["GET", "/stripe/v1/payment_intents/pi_1%5C..%5Ccustomers", 400],
      ["POST", "/stripe/v1/payment_intents/", 400],
      ["POST", "/stripe//v1/payment_intents", 400],
      ["POST", "/stripe", 400],
    ];
    for (const [method, path, status] of denied) {
      const res = await kb.proxy(key.token, path, { method, body: method === "POST" ? { amount: 100, currency: "usd" } : undefined });
      assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
      assert.ok(["endpoint_not_allowed", "bad_request"].includes(res.json.code), res.text);
      assert.equal(res.headers.get("stripe-should-retry"), "false");
    }
    assert.equal(stripe.requests.length, before, "no denied call reached Stripe");
    const allowed = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_1", { method: "GET" });
    assert.equal(allowed.status, 200);
  });

  test("Stripe-Account is refused unless the key lists the account", async () => {
    const { kb, stripe } = ctx;
    const plain = await kb.issueKey();
    const before = stripe.requests.length;
    const res = await kb.proxy(plain.token, "/stripe/v1/payment_intents", {
      headers: { "stripe-account": "acct_other" },
      body: { amount: 100, currency: "usd" },
    });
    assert.equal(res.status, 403);
    assert.equal(res.json.code, "account_not_allowed");
    assert.equal(stripe.requests.length, before);
    const scoped = await kb.issueKey({ allowed_accounts: ["acct_ok"] });
    const ok = await kb.proxy(scoped.token, "/stripe/v1/payment_intents", {
      headers: { "stripe-account": "acct_ok" },
      body: { amount: 100, currency: "usd", description: "connected" },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(received(stripe, "connected")[0].headers["stripe-account"], "acct_ok");
    const before2 = stripe.requests.length;
    const smuggled = await kb.proxy(scoped.token, "/stripe/v1/payment_intents", {
      headers: { "stripe-account": "acct_ok", "stripe-context": "acct_other" },
      body: { amount: 100, currency: "usd" },
    });
    assert.equal(smuggled.status, 403, "every account header is checked, not just the first");
    assert.equal(smuggled.json.code, "account_not_allowed");
    assert.equal(stripe.requests.length, before2);
  });
});

describe("who may call", () => {
  test("missing, malformed, mistyped and forged tokens are invalid_key", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey();
    const typo = key.token.slice(0, -1) + (key.token.endsWith("0") ? "1" : "0");
    const secretSwap = key.token.slice(0, 29) + "0".repeat(40) + key.token.slice(69);
    const unknownId = "kbk_" + "0".repeat(24) + key.token.slice(28);
    const before = stripe.requests.length;
    for (const auth of [undefined, "Bearer ", "Bearer sk_test_123", `Bearer ${typo}`, `Bearer ${secretSwap}`, `Bearer ${unknownId}`, `Token ${key.token}`]) {
      const res = await kb.fetch("/stripe/v1/payment_intents", {
        method: "POST",
        headers: auth ? { authorization: auth } : {},
        body: JSON.stringify({ amount: 100, currency: "usd" }),
      });
      assert.equal(res.status, 401, `${auth}: ${res.text}`);
      assert.equal(res.json.code, "invalid_key");
      assert.equal(res.json.error.type, "invalid_request_error");
    }
    assert.equal(stripe.requests.length, before);
  });

  test("an expired key is refused from the second it expires", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ expires_in: "2s" });
    const ok = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_1", { method: "GET" });
    assert.equal(ok.status, 200);
    await new Promise((r) => setTimeout(r, Math.max(0, key.expiresAt - Date.now()) + 20));
    const before = stripe.requests.length;
    const res = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_1", { method: "GET" });
    assert.equal(res.status, 401);
    assert.equal(res.json.code, "key_expired");
    assert.equal(stripe.requests.length, before);
    assert.equal((await kb.admin(`/v1/keys/${key.id}`)).json.status, "expired");
  });

  test("revoke-all stops every outstanding key", async () => {
    const { kb, stripe } = ctx;
    const keys = await Promise.all([1, 2, 3].map((i) => kb.issueKey({ label: `kill-${i}` })));
    const res = await kb.admin("/v1/keys/revoke-all", { method: "POST" });
    assert.ok(res.json.revoked >= 3);
    const before = stripe.requests.length;
    for (const key of keys) {
      const call = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_1", { method: "GET" });
      assert.equal(call.status, 401);
      assert.equal(call.json.code, "key_revoked");
    }
    assert.equal(stripe.requests.length, before);
  });
});

describe("the vendor's own answers", () => {
  test("vendor errors pass through untouched", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey();
    stripe.respondWith((r) =>
      r.path === "/v1/payment_intents" ? { status: 402, body: { error: { type: "card_error", code: "card_declined", message: "Your card was declined." } } } : undefined,
    );
    try {
      const declined = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
      assert.equal(declined.status, 402);
      assert.equal(declined.json.error.code, "card_declined");
      assert.equal(declined.headers.get("keybrake-cost-usd"), "0.00", "a declined call costs nothing");
      assert.equal(declined.headers.get("keybrake-remaining-usd"), "500.00");
    } finally {
      stripe.respondWith(null);
    }
  });

  test("an unreachable vendor is a 502 that may be retried", async () => {
    await withKeybrake(ctx, { STRIPE_API_BASE: "http://127.0.0.1:9" }, async (kb) => {
      const key = await kb.issueKey();
      const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
      assert.equal(res.status, 502);
      assert.equal(res.json.code, "upstream_unreachable");
      assert.equal(res.headers.get("stripe-should-retry"), "true");
      const state = await kb.settledKey(key.id);
      assert.equal(state.json.spent_today_usd, 1, "an ambiguous outcome keeps its reservation");
    });
  });

  test("without STRIPE_SECRET_KEY the proxy fails closed naming it, and /healthz names it too", async () => {
    // Twilio is left unconfigured too; Resend keeps its key.
    const missing = { STRIPE_SECRET_KEY: undefined, TWILIO_ACCOUNT_SID: undefined, TWILIO_AUTH_TOKEN: undefined };
    await withKeybrake(ctx, missing, async (kb) => {
      // A stranger learns nothing of which vendors this deployment holds secrets for.
      const anonymous = await kb.fetch("/healthz");
      assert.deepEqual(anonymous.json, { ok: true, problems: [] });
      const health = await kb.admin("/healthz");
      assert.equal(health.status, 200, "a vendor left unconfigured does not make Keybrake unhealthy");
      assert.deepEqual(health.json.problems, []);
      assert.deepEqual(health.json.vendors.resend, { ready: true });
      assert.equal(health.json.vendors.stripe.ready, false);
      assert.match(health.json.vendors.stripe.missing, /STRIPE_SECRET_KEY/);
      assert.match(health.json.vendors.twilio.missing, /TWILIO_ACCOUNT_SID/);
      const key = await kb.issueKey();
      const before = ctx.stripe.requests.length;
      const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
      assert.equal(res.status, 503);
      assert.equal(res.json.code, "not_configured");
      assert.match(res.json.error?.message ?? res.json.message, /STRIPE_SECRET_KEY/);
      assert.equal(res.headers.get("stripe-should-retry"), "false");
      assert.equal(ctx.stripe.requests.length, before);
    });
  });
});
