// The product brief's example code, unchanged, against Keybrake: a Worker
// that charges with a per-request key, a Workflow with per-step keys, and a
// Durable Object session that caches a 15-minute key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { transformSync } from "esbuild";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
import { useKeybrake } from "./support/setup.mjs";

const fixture = (name) => readFileSync(new URL(`./fixtures/brief/${name}`, import.meta.url), "utf8");
const stripTypes = (ts) => transformSync(ts, { loader: "ts", format: "esm" }).code;

// A caller for the two examples that are not fetch handlers themselves. It
// runs in workerd, so it polls the workflow with its own loop (and answers
// 504 "timeout" if it never finishes).
const driver = `
// The session sample uses DurableObject without importing it; the workflow
// sample imports what it needs itself.
import { DurableObject } from "cloudflare:workers";
${stripTypes(fixture("workflow.ts"))}
${stripTypes(fixture("session.ts"))}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/session") {
      const stub = env.SESSION.get(env.SESSION.idFromName(url.searchParams.get("user")));
      return Response.json({ token: await stub.getVaultKey({ KEYBRAKE_TOKEN: env.KEYBRAKE_TOKEN }) });
    }
    if (url.pathname === "/workflow") {
      const instance = await env.BILLING.create({ params: await request.json() });
      for (let i = 0; i < 200; i++) {
        const status = await instance.status();
        if (status.status === "complete" || status.status === "errored") return Response.json(status);
        await new Promise((r) => setTimeout(r, 50));
      }
      return Response.json({ status: "timeout" }, { status: 504 });
    }
    return new Response("not found", { status: 404 });
  },
};`;

const compatibilityDate = "2026-04-01";
const briefWorker = (name, script, extra = {}) => ({
  name,
  modules: [{ type: "ESModule", path: `${name}.mjs`, contents: script }],
  compatibilityDate,
  bindings: { KEYBRAKE_TOKEN: ADMIN_TOKEN },
  // Every fetch of the examples goes to Keybrake, whatever its hostname.
  outboundService: "keybrake",
  ...extra,
});
// The examples only use Stripe; the other fakes are idle.
const ctx = useKeybrake({}, {
  extraWorkers: [
    briefWorker("brief-worker", stripTypes(fixture("worker.ts"))),
    briefWorker("brief-driver", driver, {
      durableObjects: { SESSION: "AgentSession" },
      workflows: { BILLING: { name: "billing", className: "BillingWorkflow" } },
    }),
  ],
});

async function workerOf(name) {
  return ctx.kb.mf.getWorker(name);
}

test("the Worker example charges through a per-request key and revokes it", async () => {
  const worker = await workerOf("brief-worker");
  const res = await worker.fetch("http://example.local/", {
    method: "POST",
    headers: { "X-Workflow-Id": "wf_brief_1" },
    body: JSON.stringify({ customerId: "cus_brief", amountCents: 4200 }),
  });
  const payment = await res.json();
  assert.equal(res.status, 200, JSON.stringify(payment));
  assert.equal(payment.object, "payment_intent");
  assert.equal(payment.amount, 4200);
  const upstream = ctx.stripe.requests.find((r) => r.form.customer === "cus_brief");
  assert.deepEqual(upstream.form, { amount: "4200", currency: "usd", customer: "cus_brief" });
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.stripe.secret}`);
  const keys = await ctx.kb.admin("/v1/keys?label_prefix=workers-charge-wf_brief_1");
  assert.equal(keys.json.data.length, 1);
  assert.equal(keys.json.data[0].status, "revoked", "the finally block revoked the key");
});

test("the Worker example turns cap_exhausted into its 402", async () => {
  const worker = await workerOf("brief-worker");
  const before = ctx.stripe.requests.length;
  const res = await worker.fetch("http://example.local/", {
    method: "POST",
    headers: { "X-Workflow-Id": "wf_brief_2" },
    body: JSON.stringify({ customerId: "cus_big", amountCents: 50_001 }),
  });
  assert.equal(res.status, 402);
  assert.deepEqual(await res.json(), { error: "spend_cap_exceeded" });
  assert.equal(ctx.stripe.requests.length, before, "nothing over the $500 cap reached Stripe");
});

test("the Workflow example issues, charges and revokes in separate steps", async () => {
  const driverWorker = await workerOf("brief-driver");
  const res = await driverWorker.fetch("http://example.local/workflow", {
    method: "POST",
    body: JSON.stringify({ customerId: "cus_wf", amountCents: 1500, runId: "run_brief" }),
  });
  const status = await res.json();
  assert.equal(status.status, "complete", JSON.stringify(status));
  assert.equal(status.output.object, "payment_intent");
  assert.equal(status.output.amount, 1500);
  const keys = await ctx.kb.admin("/v1/keys?label_prefix=workflow-run_brief-charge-step");
  assert.equal(keys.json.data.length, 1);
  assert.equal(keys.json.data[0].status, "revoked");
  assert.ok(ctx.stripe.requests.some((r) => r.form.customer === "cus_wf"));
});

test("the Durable Object session reuses its 15-minute key", async () => {
  const driverWorker = await workerOf("brief-driver");
  const first = await (await driverWorker.fetch("http://example.local/session?user=u1")).json();
  const second = await (await driverWorker.fetch("http://example.local/session?user=u1")).json();
  assert.match(first.token, /^kbk_/);
  assert.equal(second.token, first.token, "the cached key is reused");
  const other = await (await driverWorker.fetch("http://example.local/session?user=u2")).json();
  assert.match(other.token, /^kbk_/);
  assert.notEqual(other.token, first.token);
  // Issued inside workerd: no answer Keybrake gives the tests, nor any log line, may carry them.
  for (const token of [first.token, other.token]) ctx.kb.issuedTokens.set(token, 0);
  const charge = await ctx.kb.proxy(first.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
  assert.equal(charge.status, 200);
  const keys = await ctx.kb.admin("/v1/keys?label_prefix=session-");
  assert.equal(keys.json.data.length, 2);
  for (const k of keys.json.data) {
    assert.equal(k.daily_usd_cap, 200);
    assert.equal(k.expiresAt - Date.parse(k.created_at), 15 * 60 * 1000);
  }
});
