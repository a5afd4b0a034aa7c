// A burst of concurrent priced calls on one key, the same load through
// Miniflare's own server and through `wrangler dev` (the path users run),
// to tell Keybrake's failures from the dev server's. Prints, per runtime and
// round, the answers by status and body, what reached the fake vendor, and
// what the key says it spent.
//   node bench/burst.mjs [calls=300] [rounds=2]
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startFakeStripe } from "../tests/support/fake-stripe.mjs";
import { ADMIN_TOKEN, startKeybrake } from "../tests/support/keybrake.mjs";
import { applyMigrations, freePort, startWranglerDev } from "../tests/support/wrangler-dev.mjs";

const CALLS = Number(process.argv[2] ?? 300);
const ROUNDS = Number(process.argv[3] ?? 2);

async function burst(name, url, stripe) {
  const call = (p, init = {}) => fetch(`${url}${p}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...init.headers } });
  const issued = await (await call("/v1/keys", { method: "POST", body: JSON.stringify({ label: `burst-${name}`, vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 1_000_000, expires_in: "1h" }) })).json();
  for (let round = 1; round <= ROUNDS; round++) {
    const marker = `burst-${name}-${round}-${issued.id}`;
    const before = stripe.requests.filter((r) => r.body.includes(marker)).length;
    const answers = await Promise.all(
      Array.from({ length: CALLS }, () =>
        fetch(`${url}/stripe/v1/payment_intents`, {
          method: "POST",
          headers: { authorization: `Bearer ${issued.token}`, "content-type": "application/x-www-form-urlencoded" },
          body: `amount=100&currency=usd&description=${marker}`,
        })
          .then(async (r) => `${r.status} ${r.headers.get("keybrake-error-code") ?? (r.status >= 500 ? (await r.text()).slice(0, 60) : "")}`.trim())
          .catch((e) => `network error: ${e.cause?.code ?? e.message}`),
      ),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const counts = {};
    for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
    const reached = stripe.requests.filter((r) => r.body.includes(marker)).length - before;
    const state = await (await call(`/v1/keys/${issued.id}`)).json();
    console.log(`${name.padEnd(12)} round ${round}: ${JSON.stringify(counts)}; reached the vendor ${reached}; key spent today $${state.spent_today_usd}, held $${state.reserved_today_usd}`);
  }
}

const stripe = await startFakeStripe();
// The vendor answers in 0 to 50 ms.
stripe.respondWith((r) => (r.body.includes("burst-") ? { status: 200, delayMs: Math.floor(Math.random() * 50), body: { id: `pi_${r.at}${Math.random()}`, object: "payment_intent" } } : undefined));
const vars = { STRIPE_API_BASE: stripe.url, STRIPE_SECRET_KEY: stripe.secret, KEYBRAKE_ADMIN_TOKEN: ADMIN_TOKEN };

const mf = await startKeybrake({ vars, port: 0 });
await burst("miniflare", mf.url, stripe);
await mf.dispose();

const persistTo = mkdtempSync(path.join(os.tmpdir(), "kb-burst-"));
await applyMigrations(persistTo);
const dev = await startWranglerDev({ persistTo, port: await freePort(), vars });
try {
  await burst("wrangler-dev", dev.url, stripe);
  const lines = dev.output().split("\n");
  const restarted = lines.filter((l) => /restart|reload/i.test(l));
  const unreachable = lines.filter((l) => /unreachable/.test(l));
  console.log(`wrangler dev printed ${restarted.length} restart/reload lines, ${unreachable.length} vendor-unreachable lines`);
  for (const l of restarted.slice(0, 3)) console.log(`  ${l.trim().slice(0, 200)}`);
  for (const l of [...new Set(unreachable.map((l) => l.replace(/req_[0-9a-f]+/, "req_…")))].slice(0, 5)) console.log(`  ${l.trim().slice(0, 200)}`);
} finally {
  await dev.kill();
  rmSync(persistTo, { recursive: true, force: true });
  await stripe.close();
}
