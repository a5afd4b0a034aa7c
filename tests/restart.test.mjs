// A SIGKILL of `wrangler dev` in the middle of a load, then a restart on the
// same persisted state: spend, revocations and audit rows are intact and
// consistent with what the fake vendor received.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startFakeStripe } from "./support/fake-stripe.mjs";
import { ADMIN_TOKEN, KeybrakeClient } from "./support/keybrake.mjs";
import { eventually, sleep } from "./support/poll.mjs";
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

const FORM = { "content-type": "application/x-www-form-urlencoded" };

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
  // Over HTTP, on the same port before and after the restart.
  const kb = KeybrakeClient.at(dev.url);
  const issue = (label, cap) => kb.issueKey({ label, allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: cap, expires_in: "1h" });
  const keys = [await issue("restart-a", 40), await issue("restart-b", 1000)];
  const revoked = await issue("restart-revoked", 10);
  assert.equal((await kb.admin(`/v1/keys/${revoked.id}`, { method: "DELETE" })).status, 200);

  stripe.respondWith((r) => (r.body.includes("restart-") ? { status: 200, delayMs: 30, body: { id: `pi_${r.at}`, object: "payment_intent" } } : undefined));
  let stop = false;
  const loop = async (key) => {
    while (!stop) {
      try {
        await kb.proxy(key.token, "/stripe/v1/payment_intents", { headers: FORM, body: `amount=100&currency=usd&description=restart-${key.id}` });
      } catch {
        return; // the server is gone
      }
    }
  };
  const loops = keys.flatMap((k) => Array.from({ length: 6 }, () => loop(k)));
  await sleep(1500);
  await dev.kill();
  stop = true;
  await Promise.all(loops);
  const received = Object.fromEntries(keys.map((k) => [k.id, stripe.requests.filter((r) => r.body.includes(`restart-${k.id}`)).length]));
  assert.ok(received[keys[0].id] > 0 && received[keys[1].id] > 0, "the load was running when it died");

  const killedOutput = dev.output();
  dev = await startWranglerDev({ persistTo, port, vars });
  // Not under wrangler's own reload shortly after start (README, "Reliability").
  await dev.afterStartupReload();
  // Revocation survived.
  assert.equal((await kb.admin(`/v1/keys/${revoked.id}`)).json.status, "revoked");
  const refused = await kb.proxy(revoked.token, "/stripe/v1/payment_intents", { headers: FORM, body: "amount=100&currency=usd" });
  assert.equal(refused.json.code, "key_revoked");

  for (const key of keys) {
    // Reservations cut off by the kill resolve within the deadline.
    const state = await eventually(async () => (await kb.admin(`/v1/keys/${key.id}`)).json, (s) => s.reserved_today_usd === 0 && s.audit_pending === 0, {
      timeoutMs: SETTLE_DEADLINE_MS + 10_000,
      intervalMs: 200,
      what: `${key.label}: nothing left held and every row in D1`,
    });
    const spentCents = Math.round(state.spent_today_usd * 100);
    const reachedCents = received[key.id] * 100;
    assert.ok(spentCents >= reachedCents, `${key.label}: spend ${spentCents}¢ covers the ${reachedCents}¢ Stripe received`);
    assert.ok(spentCents <= Math.round(state.daily_usd_cap * 100), `${key.label}: within the cap`);
    // At most the calls that were in flight when it died are charged without an answer.
    assert.ok(spentCents - reachedCents <= 6 * 100, `${key.label}: ${spentCents - reachedCents}¢ unaccounted`);
    const rows = await kb.audit({ key_id: key.id });
    const allowed = rows.filter((r) => r.decision === "allowed");
    assert.ok(allowed.length >= received[key.id], `${key.label}: every call Stripe received is audited`);
    assert.equal(Math.round(rows.reduce((s, r) => s + r.cost_usd, 0) * 100), spentCents, `${key.label}: audit costs sum to the spend`);
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, "no row twice");
  }
  // Still enforcing after the restart.
  const capped = keys[0];
  const more = await kb.proxy(capped.token, "/stripe/v1/payment_intents", { headers: FORM, body: "amount=5000&currency=usd" });
  assert.equal(more.json.code, "cap_exhausted");
  assert.ok(!dev.output().includes(stripe.secret), "wrangler's log never shows the Stripe secret");
  // Nor did any answer, and no vault key came back but in its issuance answer.
  kb.logs = `${killedOutput}\n${dev.output()}`.split("\n");
  kb.assertNoLeaks([stripe.secret, ADMIN_TOKEN]);
});
