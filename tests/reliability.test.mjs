// What must hold under load and faults: the cap, releases, revocation, the
// audit log. Each test would fail if the behaviour it names broke.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { KeybrakeClient } from "./support/keybrake.mjs";
import { eventually, sleep } from "./support/poll.mjs";
import { received, useKeybrake, withKeybrake } from "./support/setup.mjs";

const SETTLE_DEADLINE_MS = 1500;
const ctx = useKeybrake({ KEYBRAKE_SETTLE_DEADLINE_MS: String(SETTLE_DEADLINE_MS) }, { port: 0 });

const micros = (usd) => Math.round(usd * 1e6);

async function keyState(id, headers = {}) {
  return (await ctx.kb.admin(`/v1/keys/${id}`, { headers })).json;
}

/** The state once every call has settled (kept calls settle just after their reply). */
async function settledState(id, headers = {}) {
  return (await ctx.kb.settledKey(id, headers)).json;
}

/** Polls the key's state until `done` holds; throws if the time runs out first. */
function stateUntil(id, done, what, timeoutMs = 8000) {
  return eventually(() => keyState(id), done, { timeoutMs, what: `key ${id}: ${what}` });
}

// The Twilio burst's message bodies (ASCII: GSM-7) and what they cost.
const smsText = (i, tag) => `${tag} ${i % 2 ? "slow" : ""} ${"x".repeat((i % 4) * 150)}`;
const smsCost = (body) => (body.length <= 160 ? 1 : Math.ceil(body.length / 153)) * 8300;

describe("no overspend, ever", () => {
  test("repeated bursts of mixed costs, caps landing mid-burst, a slow vendor, three vendors", async () => {
    const { kb, stripe, twilio, resend } = ctx;
    const slow = (r) => (r.body.includes("slow") ? { delayMs: 20 + (r.body.length % 60) } : undefined);
    for (const fake of [stripe, twilio, resend]) {
      fake.respondWith((r) => {
        const s = slow(r);
        if (!s) return undefined;
        if (fake === stripe) return { ...s, status: 200, body: { id: `pi_${r.at}${Math.random()}`, object: "payment_intent" } };
        if (fake === twilio) return { ...s, status: 201, body: { sid: "SM1", price: null } };
        return { ...s, status: 200, body: { id: "email_slow" } };
      });
    }
    try {
      const vendors = {
        stripe: {
          key: { allowed_endpoints: ["POST /v1/payment_intents"] },
          call: (key, i, tag) => kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: [137, 999, 2500, 4321, 50][i % 5], currency: "usd", description: `${tag} ${i % 3 ? "slow" : ""}` } }),
          cost: (i) => micros([137, 999, 2500, 4321, 50][i % 5] / 100),
          fake: stripe,
          sent: (r) => micros(Number(r.form.amount) / 100),
        },
        twilio: {
          key: { allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"] },
          call: (key, i, tag) =>
            kb.fetch(`/twilio/2010-04-01/Accounts/${key.account_sid}/Messages.json`, {
              method: "POST",
              headers: {
                authorization: `Basic ${Buffer.from(`${key.account_sid}:${key.token}`).toString("base64")}`,
                "content-type": "application/x-www-form-urlencoded",
              },
              body: new URLSearchParams({ To: "+15555550100", Body: smsText(i, tag) }).toString(),
            }),
          cost: (i, tag) => smsCost(smsText(i, tag)),
          fake: twilio,
          sent: (r) => smsCost(r.form.Body),
        },
        resend: {
          key: { allowed_endpoints: ["POST /emails"] },
          call: (key, i, tag) =>
            kb.fetch("/resend/emails", {
              method: "POST",
              headers: { authorization: `Bearer ${key.token}` },
              body: JSON.stringify({ from: "s@x.test", to: Array.from({ length: 1 + (i % 7) }, (_, j) => `u${j}@x.test`), subject: `${tag} ${i % 2 ? "slow" : ""}` }),
            }),
          cost: (i) => (1 + (i % 7)) * 900,
          fake: resend,
          sent: (r) => r.json.to.length * 900,
        },
      };
      for (const [name, v] of Object.entries(vendors)) {
        for (let round = 0; round < 2; round++) {
          const tag = `burst-${name}-${round}-${Date.now()}`;
          // A cap that lands mid-burst: well below what 200 calls would cost.
          const cap = { stripe: 731.37, twilio: 0.9, resend: 0.35 }[name] + round * 0.01;
          const key = await kb.issueKey({ vendor: name, daily_usd_cap: cap, ...v.key });
          const results = await Promise.all(Array.from({ length: 200 }, (_, i) => v.call(key, i, tag)));
          const reached = v.fake.requests.filter((r) => r.body.includes(tag));
          const sentMicros = reached.reduce((sum, r) => sum + v.sent(r), 0);
          const allowed = results.filter((r) => r.status < 300);
          const denied = results.filter((r) => r.status === 429);
          const odd = results.filter((r) => r.status >= 300 && r.status !== 429).map((r) => `${r.status} ${r.text.slice(0, 120)}`);
          assert.deepEqual(odd, [], `${name}: every call allowed or capped`);
          assert.ok(denied.length > 0 && allowed.length > 0, `${name}: the cap landed mid-burst`);
          assert.equal(reached.length, allowed.length, `${name}: exactly the allowed calls reached the vendor`);
          assert.ok(sentMicros <= micros(cap), `${name}: ${sentMicros} µ$ reached the vendor over a ${cap} cap`);
          const charged = allowed.reduce((s, r) => s + micros(Number(r.headers.get("keybrake-cost-usd"))), 0);
          assert.equal(charged, sentMicros, `${name}: the costs charged are what reached the vendor`);
          const state = await settledState(key.id);
          assert.equal(micros(state.spent_today_usd), sentMicros, `${name}: recorded spend equals what reached the vendor`);
          assert.equal(state.reserved_today_usd, 0);
          // Spend only grows here, so a call denied at any moment would still not fit now.
          results.forEach((r, i) => {
            if (r.status === 429) assert.ok(sentMicros + v.cost(i, tag) > micros(cap), `${name}: call ${i} was denied though it fit`);
          });
          const rows = await kb.auditUntil({ key_id: key.id }, (rows) => rows.length >= 200);
          assert.equal(rows.length, 200, `${name}: one audit row per attempt`);
          assert.equal(rows.reduce((s, r) => s + micros(r.cost_usd), 0), sentMicros, `${name}: audit costs sum to the spend`);
        }
      }
    } finally {
      for (const fake of [stripe, twilio, resend]) fake.respondWith(null);
    }
  });

  test("a denied call never fits what remains (spend only grows in a burst)", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 100.07 });
    const costs = Array.from({ length: 300 }, (_, i) => [1, 7, 13, 29, 61][i % 5]);
    const results = await Promise.all(costs.map((c) => kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: c * 100, currency: "usd" } })));
    const spent = micros((await settledState(key.id)).spent_today_usd);
    assert.deepEqual([...new Set(results.map((r) => r.status))].sort(), [200, 429], "some calls allowed, the rest capped");
    assert.ok(spent <= micros(100.07), `spent ${spent} µ$ over the cap`);
    results.forEach((r, i) => {
      if (r.status === 429) assert.ok(spent + micros(costs[i]) > micros(100.07), `a $${costs[i]} call was denied though it fit`);
    });
    assert.ok(micros(100.07) - spent < micros(1), "whatever is left is less than the cheapest call");
  });

  test("the daily cap resets at UTC midnight, to the millisecond (injected clock)", async () => {
    const { kb } = ctx;
    const midnight = Date.UTC(2031, 0, 2);
    const at = (ms) => ({ "keybrake-test-now": String(ms) });
    const created = await kb.admin("/v1/keys", {
      method: "POST",
      headers: at(midnight - 60_000),
      body: { label: "midnight", vendor: "stripe", allowed_endpoints: ["/v1/payment_intents"], daily_usd_cap: 100, expires_in: "1h" },
    });
    const key = created.json;
    const charge = (ms) => kb.proxy(key.token, "/stripe/v1/payment_intents", { headers: at(ms), body: { amount: 2000, currency: "usd", description: "midnight" } });
    const burst = await Promise.all([
      ...Array.from({ length: 10 }, () => charge(midnight - 1)),
      ...Array.from({ length: 10 }, () => charge(midnight)),
    ]);
    const before = burst.slice(0, 10).filter((r) => r.status === 200).length;
    const after = burst.slice(10).filter((r) => r.status === 200).length;
    assert.equal(before, 5, "five $20 calls fit the last day");
    assert.equal(after, 5, "five more fit the new day, from its first millisecond");
    assert.equal((await settledState(key.id, at(midnight - 1))).spent_today_usd, 100);
    assert.equal((await settledState(key.id, at(midnight))).spent_today_usd, 100);
    assert.equal((await keyState(key.id, at(midnight + 86_400_000))).spent_today_usd, 0);
    const expired = await kb.proxy(key.token, "/stripe/v1/payment_intents", { headers: at(key.expiresAt), body: { amount: 1, currency: "usd" } });
    assert.equal(expired.json.code, "key_expired", "expiry is exact to the millisecond");
    const justBefore = await kb.proxy(key.token, "/stripe/v1/payment_intents/pi_1", { method: "GET", headers: at(key.expiresAt - 1) });
    assert.equal(justBefore.status, 403, "one millisecond earlier the key still lives (the path is not allowed)");
  });
});

describe("no phantom spend", () => {
  test("a call the vendor rejects releases its reservation at once, under load too", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 50 });
    stripe.respondWith((r) => (r.body.includes("decline") ? { status: 402, delayMs: 30, body: { error: { type: "card_error", code: "card_declined" } } } : undefined));
    try {
      const declined = await Promise.all(Array.from({ length: 40 }, () => kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 5000, currency: "usd", description: "decline" } })));
      assert.ok(declined.every((r) => r.status === 402 || r.status === 429));
      const state = await keyState(key.id);
      assert.equal(state.reserved_today_usd, 0);
      assert.equal(state.spent_today_usd, 0);
      const full = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 5000, currency: "usd" } });
      assert.equal(full.status, 200, "the whole cap is usable again");
    } finally {
      stripe.respondWith(null);
    }
  });

  test("a client that disconnects mid-call still gets its reservation settled", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 30 });
    stripe.respondWith((r) => (r.body.includes("walk-away") ? { status: 402, delayMs: 400, body: { error: { type: "card_error" } } } : undefined));
    try {
      const { hostname, port } = new URL(kb.url);
      await new Promise((resolve) => {
        const req = http.request({ hostname, port, path: "/stripe/v1/payment_intents", method: "POST", headers: { authorization: `Bearer ${key.token}`, "content-type": "application/x-www-form-urlencoded" } });
        req.on("error", () => resolve());
        req.end("amount=3000&currency=usd&description=walk-away");
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100);
      });
      assert.equal((await keyState(key.id)).reserved_today_usd, 30, "reserved while the vendor thinks");
      const state = await stateUntil(key.id, (s) => s.reserved_today_usd === 0, "its reservation settled", 3000);
      assert.equal(state.reserved_today_usd, 0);
      assert.equal(state.spent_today_usd, 0, "the vendor's 402 released it, though the client had gone");
      assert.equal(received(stripe, "walk-away").length, 1);
    } finally {
      stripe.respondWith(null);
    }
  });

  test("a call whose Worker never settles is resolved by the alarm within the deadline (kept: money may have moved)", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 30 });
    const started = Date.now();
    const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", { headers: { "keybrake-test-skip-settle": "1" }, body: { amount: 1000, currency: "usd", description: "cut-off" } });
    assert.equal(res.status, 200);
    assert.equal((await keyState(key.id)).reserved_today_usd, 10, "held: no settlement came");
    const state = await stateUntil(key.id, (s) => s.reserved_today_usd === 0, "the alarm to resolve the held call", SETTLE_DEADLINE_MS + 5000);
    const took = Date.now() - started;
    assert.equal(state.reserved_today_usd, 0, "resolved");
    assert.equal(state.spent_today_usd, 10, "ambiguous outcomes keep their cost");
    assert.ok(took >= SETTLE_DEADLINE_MS - 100 && took < SETTLE_DEADLINE_MS + 5000, `resolved after ${took} ms`);
    const rows = await kb.auditUntil({ key_id: key.id }, (rows) => rows.length >= 1);
    assert.equal(rows[0].code, "unsettled");
    assert.equal(rows[0].cost_usd, 10);
    assert.equal(received(stripe, "cut-off").length, 1);
  });

  test("a 5xx or a vendor timeout keeps its reservation and says so in the audit", async () => {
    const { stripe } = ctx;
    // Its own instance: a short upstream timeout would cut the load tests' slow calls.
    await withKeybrake(ctx, { KEYBRAKE_UPSTREAM_TIMEOUT_MS: "300" }, async (kb) => {
      const key = await kb.issueKey({ daily_usd_cap: 30 });
      stripe.respondWith((r) =>
        r.body.includes("boom") ? { status: 503, body: { error: { type: "api_error" } } } : r.body.includes("hang") ? { status: 200, delayMs: 1000, body: {} } : undefined,
      );
      try {
        const boom = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 1000, currency: "usd", description: "boom" } });
        assert.equal(boom.status, 503);
        const hang = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 1000, currency: "usd", description: "hang" } });
        assert.equal(hang.status, 502);
        assert.equal(hang.json.code, "upstream_unreachable");
        const state = (await kb.settledKey(key.id)).json;
        assert.equal(state.spent_today_usd, 20);
        assert.equal(state.reserved_today_usd, 0);
        const rows = await kb.auditUntil({ key_id: key.id }, (rows) => rows.length >= 2);
        assert.deepEqual(rows.map((r) => r.code).sort(), ["upstream_error", "upstream_unreachable"]);
      } finally {
        stripe.respondWith(null);
      }
    });
  });
});

describe("revocation has no window", () => {
  test("after revoke-all returns under load, zero calls reach the vendor", async () => {
    const { kb, stripe } = ctx;
    const tag = `revoke-load-${Date.now()}`;
    const keys = await Promise.all([1, 2, 3, 4].map((i) => kb.issueKey({ label: `${tag}-${i}`, daily_usd_cap: 100000 })));
    stripe.respondWith((r) => (r.body.includes(tag) ? { status: 200, delayMs: 40, body: { id: "pi_x", object: "payment_intent" } } : undefined));
    let stop = false;
    const outcomes = [];
    const worker = async (key) => {
      while (!stop) {
        const started = Date.now();
        const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd", description: tag } });
        outcomes.push({ started, status: res.status, code: res.json?.code });
      }
    };
    try {
      const loops = keys.flatMap((k) => [worker(k), worker(k), worker(k)]);
      await sleep(400);
      const res = await kb.admin("/v1/keys/revoke-all", { method: "POST", body: { label_prefix: tag } });
      const returned = Date.now();
      assert.deepEqual(res.json, { revoked: 4 });
      await sleep(400);
      stop = true;
      await Promise.all(loops);
      const late = received(stripe, tag).filter((r) => r.at > returned);
      assert.equal(late.length, 0, `${late.length} calls reached Stripe after revoke-all returned`);
      const after = outcomes.filter((o) => o.started > returned);
      assert.ok(after.length > 0, "the load went on after the revocation");
      assert.ok(after.every((o) => o.status === 401 && o.code === "key_revoked"));
      assert.ok(outcomes.some((o) => o.status === 200), "calls went through before it");
    } finally {
      stop = true;
      stripe.respondWith(null);
    }
  });

  test("DELETE of one key under load: nothing reaches the vendor after it returns", async () => {
    const { kb, stripe } = ctx;
    const tag = `delete-load-${Date.now()}`;
    const key = await kb.issueKey({ daily_usd_cap: 100000 });
    stripe.respondWith((r) => (r.body.includes(tag) ? { status: 200, delayMs: 60, body: { id: "pi_y" } } : undefined));
    let stop = false;
    const loop = async () => {
      while (!stop) await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd", description: tag } });
    };
    try {
      const loops = Array.from({ length: 8 }, loop);
      await sleep(300);
      await kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
      const returned = Date.now();
      await sleep(300);
      stop = true;
      await Promise.all(loops);
      assert.ok(received(stripe, tag).length > 0);
      assert.equal(received(stripe, tag).filter((r) => r.at > returned).length, 0);
    } finally {
      stop = true;
      stripe.respondWith(null);
    }
  });
});

describe("the audit log is complete", () => {
  test("rows survive a D1 outage and arrive once D1 is back", async () => {
    const { kb } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 5 });
    const fault = await kb.admin("/v1/test/faults", { method: "POST", body: { key_id: key.id, d1_fails: true } });
    assert.equal(fault.status, 200, fault.text);
    const calls = await Promise.all(Array.from({ length: 60 }, (_, i) => kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 10 + i, currency: "usd" } })));
    const allowed = calls.filter((r) => r.status === 200).length;
    assert.ok(allowed > 0 && allowed < 60);
    await sleep(1500);
    const during = await kb.admin(`/v1/audit?key_id=${key.id}`);
    assert.equal(during.json.data.length, 0, "D1 is down: nothing reached it");
    const held = await settledState(key.id);
    assert.equal(held.audit_pending, 60, "every row waits in the key's object");
    await kb.admin("/v1/test/faults", { method: "POST", body: { key_id: key.id, d1_fails: false } });
    const rows = await kb.auditUntil({ key_id: key.id }, (rows) => rows.length >= 60);
    assert.equal(rows.length, 60, "all rows arrived, none twice");
    assert.equal(new Set(rows.map((r) => r.id)).size, 60);
    assert.equal(rows.reduce((s, r) => s + micros(r.cost_usd), 0), micros(held.spent_today_usd));
    assert.equal((await stateUntil(key.id, (s) => s.audit_pending === 0, "no audit row pending")).audit_pending, 0);
  });

  test("the fault switch exists only in test configuration", async () => {
    const { stripe } = ctx;
    await withKeybrake(ctx, { KEYBRAKE_TEST_HOOKS: "0" }, async (prod) => {
      const key = await prod.issueKey();
      const res = await prod.admin("/v1/test/faults", { method: "POST", body: { key_id: key.id, d1_fails: true } });
      assert.equal(res.status, 404);
      // A clock past the key's expiry is ignored: the call is allowed, and
      // the fake Stripe answers it (a GET of a payment intent, free).
      const before = stripe.requests.length;
      const clock = await prod.proxy(key.token, "/stripe/v1/payment_intents/pi_clock", { method: "GET", headers: { "keybrake-test-now": String(key.expiresAt + 1) } });
      assert.equal(clock.status, 200, clock.text);
      assert.deepEqual(clock.json, { id: "pi_clock", object: "payment_intent", status: "requires_confirmation" });
      assert.equal(clock.headers.get("keybrake-cost-usd"), "0.00");
      assert.deepEqual(stripe.requests.slice(before).map((r) => `${r.method} ${r.path}`), ["GET /v1/payment_intents/pi_clock"]);
    });
  });
});

test("the leak scan itself catches a leak", async () => {
  const fake = { seen: ["ok", "here is sk_test_leaky_secret"], logs: [], issuedTokens: new Map() };
  assert.throws(() => KeybrakeClient.prototype.assertNoLeaks.call(fake, ["sk_test_leaky_secret"]), /secrets leaked/);
  const token = "kbk_" + "a".repeat(24) + "_" + "b".repeat(48);
  const twice = { seen: [`{"token":"${token}"}`, `echo ${token}`], logs: [], issuedTokens: new Map([[token, 1]]) };
  assert.throws(() => KeybrakeClient.prototype.assertNoLeaks.call(twice, []), /was in 2 responses/);
  // An issuer token, registered as KeybrakeClient.fetch registers it from
  // its creation answer, then echoed by a second response.
  const issuer = "kbi_" + "c".repeat(24) + "_" + "d".repeat(48);
  const client = new KeybrakeClient({
    dispatchFetch: async (url) => Response.json(url.endsWith("/v1/issuers") ? { id: `iss_${"c".repeat(24)}`, token: issuer } : { echo: issuer }),
  });
  await client.admin("/v1/issuers", { method: "POST", body: {} });
  assert.equal(client.issuedTokens.get(issuer), 1, "registered from its creation answer");
  assert.doesNotThrow(() => client.assertNoLeaks([]), "once, in its own answer, is fine");
  await client.admin("/v1/issuers/echo");
  assert.throws(() => client.assertNoLeaks([]), /issuer token kbi_cccccccc… was in 2 responses/);
  // In a log line, even its secret part alone.
  const logged = { seen: [], logs: [`issuer ${issuer.slice(29, 69)}`], issuedTokens: new Map([[issuer, 1]]) };
  assert.throws(() => KeybrakeClient.prototype.assertNoLeaks.call(logged, []), /a log line carried issuer token/);
});
