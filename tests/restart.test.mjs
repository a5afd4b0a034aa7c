// A SIGKILL of `wrangler dev` in the middle of a load, then a restart on the
// same persisted state: spend, revocations and audit rows are intact and
// consistent with what the fake vendor received.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startFakeStripe } from "./support/fake-stripe.mjs";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
import { applyMigrations, freePort, startWranglerDev } from "./support/wrangler-dev.mjs";

const SETTLE_DEADLINE_MS = 1500;
let stripe;
let persistTo;
let dev;

before(async () => {
  stripe = await startFakeStripe();
  persistTo = mkdtempSync(path.join(tmpdir(), "keybrake-restart-"));
  await applyMigrations(persistTo);
});

after(async () => {
  await dev?.kill();
  await stripe?.close();
  rmSync(persistTo, { recursive: true, force: true });
});

async function call(url, pathname, { method = "GET", token = ADMIN_TOKEN, body } = {}) {
  const res = await fetch(`${url}${pathname}`, {
    method,
    // A string body is a form, as curl -d sends it.
    headers: { authorization: `Bearer ${token}`, ...(typeof body === "string" ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}

test("spend, revocations and audit rows survive a SIGKILL mid-load", async () => {
  const port = await freePort();
  const vars = {
    KEYBRAKE_ADMIN_TOKEN: ADMIN_TOKEN,
    STRIPE_API_BASE: stripe.url,
    STRIPE_SECRET_KEY: stripe.secret,
    KEYBRAKE_SETTLE_DEADLINE_MS: String(SETTLE_DEADLINE_MS),
  };
  dev = await startWranglerDev({ persistTo, port, vars });
  // Not under wrangler's own reload shortly after start (README, "Reliability").
  await dev.afterStartupReload();
  const issue = async (label, cap) =>
    (await call(dev.url, "/v1/keys", { method: "POST", body: { label, vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: cap, expires_in: "1h" } })).json;
  const keys = [await issue("restart-a", 40), await issue("restart-b", 1000)];
  const revoked = await issue("restart-revoked", 10);
  assert.equal((await call(dev.url, `/v1/keys/${revoked.id}`, { method: "DELETE" })).status, 200);

  stripe.respondWith((r) => (r.body.includes("restart-") ? { status: 200, delayMs: 30, body: { id: `pi_${r.at}`, object: "payment_intent" } } : undefined));
  let stop = false;
  const loop = async (key) => {
    while (!stop) {
      try {
        await call(dev.url, "/stripe/v1/payment_intents", { method: "POST", token: key.token, body: `amount=100&currency=usd&description=restart-${key.id}` });
      } catch {
        return; // the server is gone
      }
    }
  };
  const loops = keys.flatMap((k) => Array.from({ length: 6 }, () => loop(k)));
  await new Promise((r) => setTimeout(r, 1500));
  await dev.kill();
  stop = true;
  await Promise.all(loops);
  const received = Object.fromEntries(keys.map((k) => [k.id, stripe.requests.filter((r) => r.body.includes(`restart-${k.id}`)).length]));
  assert.ok(received[keys[0].id] > 0 && received[keys[1].id] > 0, "the load was running when it died");

  dev = await startWranglerDev({ persistTo, port, vars });
  // Not under wrangler's own reload shortly after start (README, "Reliability").
  await dev.afterStartupReload();
  // Revocation survived.
  assert.equal((await call(dev.url, `/v1/keys/${revoked.id}`)).json.status, "revoked");
  const refused = await call(dev.url, "/stripe/v1/payment_intents", { method: "POST", token: revoked.token, body: "amount=100&currency=usd" });
  assert.equal(refused.json.code, "key_revoked");

  for (const key of keys) {
    // Reservations cut off by the kill resolve within the deadline.
    let state;
    const deadline = Date.now() + SETTLE_DEADLINE_MS + 10_000;
    do {
      state = (await call(dev.url, `/v1/keys/${key.id}`)).json;
      if (state.reserved_today_usd === 0 && state.audit_pending === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
    assert.equal(state.reserved_today_usd, 0, `${key.label}: nothing left held`);
    assert.equal(state.audit_pending, 0, `${key.label}: every row reached D1`);
    const spentCents = Math.round(state.spent_today_usd * 100);
    const reachedCents = received[key.id] * 100;
    assert.ok(spentCents >= reachedCents, `${key.label}: spend ${spentCents}¢ covers the ${reachedCents}¢ Stripe received`);
    assert.ok(spentCents <= Math.round(state.daily_usd_cap * 100), `${key.label}: within the cap`);
    // At most the calls that were in flight when it died are charged without an answer.
    assert.ok(spentCents - reachedCents <= 6 * 100, `${key.label}: ${spentCents - reachedCents}¢ unaccounted`);
    const rows = [];
    let cursor = null;
    do {
      const page = await call(dev.url, `/v1/audit?key_id=${key.id}&limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
      rows.push(...page.json.data);
      cursor = page.json.next_cursor;
    } while (cursor);
    const allowed = rows.filter((r) => r.decision === "allowed");
    assert.ok(allowed.length >= received[key.id], `${key.label}: every call Stripe received is audited`);
    assert.equal(Math.round(rows.reduce((s, r) => s + r.cost_usd, 0) * 100), spentCents, `${key.label}: audit costs sum to the spend`);
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, "no row twice");
  }
  // Still enforcing after the restart.
  const capped = keys[0];
  const more = await call(dev.url, "/stripe/v1/payment_intents", { method: "POST", token: capped.token, body: "amount=5000&currency=usd" });
  assert.equal(more.json.code, "cap_exhausted");
  assert.ok(!dev.output().includes(stripe.secret), "wrangler's log never shows the Stripe secret");
});
