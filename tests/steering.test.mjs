// Steering a live key: pause and resume, and PATCH of its caps, expiry and
// constraints, applied in the key's Durable Object so they hold exactly
// against the calls around them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

const policy = (over = {}) => ({
  label: "steer-run",
  vendor: "stripe",
  allowed_endpoints: ["POST /v1/payment_intents"],
  daily_usd_cap: 100,
  expires_in: "10m",
  ...over,
});

/** A $1 payment carrying a marker the fake vendor records. */
const pay = (token, marker, dollars = 1, headers = {}) =>
  ctx.kb.proxy(token, "/stripe/v1/payment_intents", { body: `amount=${dollars * 100}&currency=usd&description=${marker}`, headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });

/** The key's audit rows matching `pick`, once `count` of them have landed. */
function auditRows(keyId, pick, count) {
  return eventually(async () => (await ctx.kb.admin(`/v1/audit?key_id=${keyId}&limit=100`)).json.data.filter(pick), (rows) => rows.length >= count, {
    what: `${count} matching audit rows of key ${keyId}`,
  });
}

const patch = (id, body) => ctx.kb.admin(`/v1/keys/${id}`, { method: "PATCH", body });

test("pause refuses the next call at once (423 key_paused, retryable, nothing forwarded); resume carries on with the same spend", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "steer-pause" }));
  assert.equal((await pay(key.token, "pause-before")).status, 200);

  const paused = await ctx.kb.admin(`/v1/keys/${key.id}/pause`, { method: "POST" });
  assert.equal(paused.status, 200, paused.text);
  assert.equal(paused.json.status, "paused");
  assert.ok(paused.json.paused_at, "paused_at is shown");

  // No window: every call started after the pause returned is refused.
  const refused = await Promise.all(Array.from({ length: 8 }, (_, i) => pay(key.token, `pause-during-${i}`)));
  for (const res of refused) {
    assert.equal(res.status, 423, res.text);
    assert.equal(res.json.error.code, "key_paused");
    assert.equal(res.headers.get("keybrake-error-code"), "key_paused");
    assert.equal(res.headers.get("stripe-should-retry"), "true", "a paused key may be resumed");
  }
  assert.equal(ctx.stripe.requests.filter((r) => r.body.includes("pause-during-")).length, 0, "nothing was forwarded");

  // Pausing twice keeps the first moment; listing sees it.
  const again = await ctx.kb.admin(`/v1/keys/${key.id}/pause`, { method: "POST" });
  assert.equal(again.json.paused_at, paused.json.paused_at);
  const listed = await ctx.kb.admin("/v1/keys?status=paused&label_prefix=steer-pause");
  assert.deepEqual(listed.json.data.map((k) => k.id), [key.id]);
  const active = await ctx.kb.admin("/v1/keys?status=active&label_prefix=steer-pause");
  assert.equal(active.json.data.length, 0);

  const resumed = await ctx.kb.admin(`/v1/keys/${key.id}/resume`, { method: "POST" });
  assert.equal(resumed.status, 200, resumed.text);
  assert.equal(resumed.json.status, "active");
  assert.equal(resumed.json.paused_at, null);
  assert.equal((await pay(key.token, "pause-after")).status, 200);
  const state = await ctx.kb.settledKey(key.id);
  assert.equal(state.json.spent_today_usd, 2, "the spend before the pause still counts");

  // Every refusal is in the audit log, as a denial naming the code.
  const denials = await auditRows(key.id, (r) => r.code === "key_paused", 8);
  assert.equal(denials.length, 8);
  assert.ok(denials.every((r) => r.decision === "denied"));
});

test("a revoked key cannot be paused, resumed or changed; an unknown key is 404", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "steer-dead" }));
  await ctx.kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
  for (const [path, method, body] of [[`/v1/keys/${key.id}/resume`, "POST"], [`/v1/keys/${key.id}/pause`, "POST"], [`/v1/keys/${key.id}`, "PATCH", { daily_usd_cap: 500 }]]) {
    const res = await ctx.kb.admin(path, { method, body });
    assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
    assert.match(res.json.message, /revoked/);
  }
  const shown = await ctx.kb.admin(`/v1/keys/${key.id}`);
  assert.equal(shown.json.status, "revoked");
  assert.equal(shown.json.daily_usd_cap, 100);
  const unknown = await ctx.kb.admin("/v1/keys/key_000000000000000000000000/pause", { method: "POST" });
  assert.equal(unknown.status, 404, unknown.text);
});

test("PATCH raises and lowers the daily cap exactly: after it returns, exactly the new remainder gets through", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "steer-cap", daily_usd_cap: 3 }));
  for (let i = 0; i < 3; i++) assert.equal((await pay(key.token, `cap-a${i}`)).status, 200);
  assert.equal((await pay(key.token, "cap-over")).status, 429);

  const raised = await patch(key.id, { daily_usd_cap: 7 });
  assert.equal(raised.status, 200, raised.text);
  assert.equal(raised.json.daily_usd_cap, 7);
  // 4 dollars left: of 10 concurrent $1 calls, exactly 4 pass.
  const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => pay(key.token, `cap-b${i}`)));
  assert.deepEqual(burst.map((r) => r.status).sort(), [...Array(4).fill(200), ...Array(6).fill(429)]);

  // Lowered below what is spent: nothing more today, and the message says so.
  const lowered = await patch(key.id, { daily_usd_cap: "5.00" });
  assert.equal(lowered.status, 200, lowered.text);
  const after = await pay(key.token, "cap-after-lower");
  assert.equal(after.status, 429, after.text);
  assert.equal(received(ctx.stripe, "cap-after-lower").length, 0);
  const state = await ctx.kb.settledKey(key.id);
  assert.equal(state.json.spent_today_usd, 7);
  assert.equal(state.json.remaining_today_usd, 0);
  // D1's copy follows, for listing.
  const listed = await ctx.kb.admin("/v1/keys?label_prefix=steer-cap");
  assert.equal(listed.json.data[0].daily_usd_cap, 5);
});

test("PATCH moves the lifetime cap and the expiry", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "steer-total", constraints: { total_usd_cap: 2 } }));
  assert.equal((await pay(key.token, "total-1", 2)).status, 200);
  assert.equal((await pay(key.token, "total-2")).status, 429);
  const raised = await patch(key.id, { total_usd_cap: 3 });
  assert.equal(raised.status, 200, raised.text);
  assert.equal(raised.json.constraints.total_usd_cap, 3);
  assert.equal((await pay(key.token, "total-3")).status, 200);
  assert.equal((await pay(key.token, "total-4")).status, 429);

  // Shortened to 30 s from now: alive now, dead 31 s later.
  const now = Date.now();
  const shortened = await patch(key.id, { expires_in: "30s" });
  assert.equal(shortened.status, 200, shortened.text);
  assert.ok(Math.abs(shortened.json.expiresAt - (now + 30_000)) < 5_000, shortened.text);
  const late = await pay(key.token, "expiry-late", 1, { "keybrake-test-now": String(now + 31_000) });
  assert.equal(late.status, 401, late.text);
  assert.equal(late.json.error.code, "key_expired");
  // Extended, but never past the deployment's longest TTL.
  const tooLong = await patch(key.id, { expires_in: "25h" });
  assert.equal(tooLong.status, 400, tooLong.text);
  assert.equal(tooLong.json.param, "expires_in");
  const extended = await patch(key.id, { expires_in: "2h" });
  assert.equal(extended.status, 200, extended.text);
  assert.equal((await pay(key.token, "expiry-late-2", 1, { "keybrake-test-now": String(now + 31_000) })).status, 429, "alive again; the lifetime cap still holds");
});

test("PATCH only tightens constraints, and bad input names the field and changes nothing", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "steer-tight", constraints: { max_amount_usd: 50, currencies: ["usd", "eur"] } }));
  const tightened = await patch(key.id, { constraints: { max_amount_usd: 20, currencies: ["usd"] } });
  assert.equal(tightened.status, 200, tightened.text);
  assert.deepEqual(tightened.json.constraints, { max_amount_usd: 20, currencies: ["usd"] });
  const big = await pay(key.token, "tight-30", 30);
  assert.equal(big.status, 403, big.text);
  assert.equal(big.json.error.param, "constraints.max_amount_usd");
  assert.equal(received(ctx.stripe, "tight-30").length, 0);

  for (const [body, param] of [
    [{ constraints: { max_amount_usd: 40, currencies: ["usd"] } }, "constraints.max_amount_usd"],
    [{ constraints: { max_amount_usd: 20 } }, "constraints.currencies"],
    [{ constraints: { max_amount_usd: 20, currencies: ["usd"], total_usd_cap: 5 } }, "constraints.total_usd_cap"],
    [{ constraints: null }, "constraints"],
    [{ constraints: { to: ["+15551234567"] } }, "constraints.to"],
    [{ label: "steer-renamed" }, "label"],
    [{ allowed_endpoints: ["/v1/**"] }, "allowed_endpoints"],
    [{ vendor: "twilio" }, "vendor"],
    [{ daily_usd_cap: -1 }, "daily_usd_cap"],
    [{ daily_usd_cap: 5, colour: "red" }, "colour"],
    [{ expires_in: "0s" }, "expires_in"],
  ]) {
    const res = await patch(key.id, body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.json.param, param, JSON.stringify(body));
  }
  const empty = await patch(key.id, {});
  assert.equal(empty.status, 400);
  assert.match(empty.json.message, /nothing to change/);
  const shown = await ctx.kb.admin(`/v1/keys/${key.id}`);
  assert.deepEqual(shown.json.constraints, { max_amount_usd: 20, currencies: ["usd"] });
  assert.equal(shown.json.label, "steer-tight");
  assert.equal(shown.json.daily_usd_cap, 100);
});

test("an issuer steers only its own keys, and only inside its ceilings", async () => {
  const made = await ctx.kb.admin("/v1/issuers", {
    method: "POST",
    body: { label: "steer-issuer", vendors: ["stripe"], endpoint_ceiling: ["POST /v1/payment_intents"], max_daily_usd_cap: 50, max_ttl: "1h", max_live_keys: 5, max_daily_spend_usd: 500, label_prefix: "steer-iss-" },
  });
  assert.equal(made.status, 201, made.text);
  const as = (path, method, body) => ctx.kb.fetch(path, { method, headers: { authorization: `Bearer ${made.json.token}` }, body: body && JSON.stringify(body) });
  const issued = await ctx.kb.issueKey(policy({ label: "steer-iss-1", daily_usd_cap: 10, expires_in: "30m" }), { as: made.json.token });
  const id = issued.id;

  assert.equal((await as(`/v1/keys/${id}`, "PATCH", { daily_usd_cap: 50 })).status, 200);
  const over = await as(`/v1/keys/${id}`, "PATCH", { daily_usd_cap: 51 });
  assert.equal(over.status, 403, over.text);
  assert.equal(over.json.param, "max_daily_usd_cap");
  // 40 more minutes on a key issued now would make it live 70: over max_ttl.
  const stretched = await as(`/v1/keys/${id}`, "PATCH", { expires_in: "70m" });
  assert.equal(stretched.status, 403, stretched.text);
  assert.equal(stretched.json.param, "max_ttl");
  const shown = await ctx.kb.admin(`/v1/keys/${id}`);
  assert.equal(shown.json.daily_usd_cap, 50);
  assert.equal(shown.json.expiresAt, issued.expiresAt, "a refused change changes nothing");

  assert.equal((await as(`/v1/keys/${id}/pause`, "POST")).status, 200);
  assert.equal((await pay(issued.token, "iss-paused")).status, 423);
  assert.equal((await as(`/v1/keys/${id}/resume`, "POST")).status, 200);

  // The admin's keys are invisible to the issuer.
  const theirs = await ctx.kb.issueKey(policy({ label: "steer-admins" }));
  for (const [path, method, body] of [[`/v1/keys/${theirs.id}`, "PATCH", { daily_usd_cap: 1 }], [`/v1/keys/${theirs.id}/pause`, "POST"]]) {
    const res = await as(path, method, body);
    assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
  }
  assert.equal((await ctx.kb.admin(`/v1/keys/${theirs.id}`)).json.status, "active");
});
