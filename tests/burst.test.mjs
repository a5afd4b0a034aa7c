// A hot key under a burst, on the path users run (`wrangler dev`): 300
// concurrent priced calls while the vendor takes 0 to 50 ms, once quietly
// and once while wrangler reloads the Worker mid-burst (its file watcher
// does so on any change under src/, and once on its own shortly after
// start). Whatever wrangler does, Keybrake must not drop a call silently,
// lose a reservation or charge for more than what reached the vendor plus
// the calls whose outcome it could not know.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeStripe } from "./support/fake-stripe.mjs";
import { ADMIN_TOKEN, KeybrakeClient } from "./support/keybrake.mjs";
import { sleep } from "./support/poll.mjs";
import { applyMigrations, freePort, startWranglerDev } from "./support/wrangler-dev.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CALLS = 300;
const WRANGLER_RESTARTED = /^Your worker restarted mid-request/;
let stripe;
let persistTo;
let dev;
let kb;

before(async () => {
  stripe = await startFakeStripe();
  stripe.respondWith((r) => (r.body.includes("burst-") ? { status: 200, delayMs: Math.floor(Math.random() * 50), body: { id: `pi_${r.at}_${Math.random()}`, object: "payment_intent" } } : undefined));
  persistTo = mkdtempSync(path.join(tmpdir(), "keybrake-burst-"));
  await applyMigrations(persistTo);
  // A call the reload cuts off is resolved by its key's alarm after this.
  const vars = { KEYBRAKE_ADMIN_TOKEN: ADMIN_TOKEN, STRIPE_API_BASE: stripe.url, STRIPE_SECRET_KEY: stripe.secret, KEYBRAKE_SETTLE_DEADLINE_MS: "1500" };
  dev = await startWranglerDev({ persistTo, port: await freePort(), vars });
  await dev.afterStartupReload();
  kb = KeybrakeClient.at(dev.url);
});

after(async () => {
  await dev?.kill();
  await stripe?.close();
  rmSync(persistTo, { recursive: true, force: true });
});

const issue = (label) => kb.issueKey({ label, allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 10_000, expires_in: "1h" });

/** Fires the burst; `during` runs once it is under way. */
async function burst(key, marker, during = async () => {}) {
  const calls = Array.from({ length: CALLS }, () =>
    fetch(`${dev.url}/stripe/v1/payment_intents`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.token}`, "content-type": "application/x-www-form-urlencoded" },
      body: `amount=100&currency=usd&description=${marker}`,
    }).then(async (r) => ({ status: r.status, code: r.headers.get("keybrake-error-code"), text: await r.text() })),
  );
  await during();
  return Promise.all(calls);
}

/** The key once nothing is held any more. */
const settled = async (id) => (await kb.settledKey(id, {}, 15_000)).json;

test("a quiet burst: every call answered, charged and forwarded once", async () => {
  const key = await issue("burst-quiet");
  const marker = `burst-quiet-${key.id}`;
  const answers = await burst(key, marker);
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  const state = await settled(key.id);
  assert.equal(state.spent_today_usd, CALLS);
  assert.equal(stripe.requests.filter((r) => r.body.includes(marker)).length, CALLS);
});

test("a burst across a reload: every call answered (wrangler's 503 says retry), no reservation lost, charges between what reached the vendor and what could have", async (t) => {
  const key = await issue("burst-reload");
  const marker = `burst-reload-${key.id}`;
  // Touching a source file (its content unchanged) makes wrangler rebuild
  // (a no-op here) and reload the Worker while the burst is in flight.
  const lib = path.join(root, "src/lib.rs");
  const answers = await burst(key, marker, async () => {
    await sleep(30);
    const now = new Date();
    utimesSync(lib, now, now);
  });
  const ok = answers.filter((a) => a.status === 200).length;
  const ambiguous = answers.filter((a) => a.code === "upstream_unreachable").length;
  const restarted = answers.filter((a) => a.status === 503 && !a.code && WRANGLER_RESTARTED.test(a.text));
  assert.equal(ok + ambiguous + restarted.length, CALLS, `unexpected answers: ${JSON.stringify(answers.filter((a) => a.status !== 200 && !a.code && !WRANGLER_RESTARTED.test(a.text)).slice(0, 3))}`);
  await dev.afterStartupReload(5_000);
  // Held reservations of calls the reload cut off are resolved (kept, as
  // the call may have reached the vendor) by the key's alarm.
  const state = await settled(key.id);
  const reached = stripe.requests.filter((r) => r.body.includes(marker)).length;
  t.diagnostic(`answered ${ok}, ambiguous ${ambiguous}, wrangler's 503 ${restarted.length}; reached the vendor ${reached}; charged ${state.spent_today_usd}`);
  assert.ok(reached >= ok, `reached ${reached}, answered ${ok}`);
  assert.ok(state.spent_today_usd >= reached, `charged ${state.spent_today_usd} for ${reached} calls that reached the vendor`);
  assert.ok(state.spent_today_usd <= ok + ambiguous + restarted.length, `charged ${state.spent_today_usd} for at most ${ok + ambiguous + restarted.length} possible calls`);
  // wrangler's 503 says to retry: the retries (a whole burst again, the
  // reload over) all go through.
  const retried = await burst(key, `${marker}-retry`);
  assert.deepEqual([...new Set(retried.map((a) => a.status))], [200], JSON.stringify(retried.find((a) => a.status !== 200)));
});
