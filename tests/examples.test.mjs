// The runnable examples (examples/), written against the Workers client and
// run inside workerd, calling Keybrake over a service binding: the brief's
// three patterns and a Stripe + Twilio invocation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { agent, agentWorker } from "./support/agent.mjs";
import { eventually } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake({}, { extraWorkers: [agentWorker()] });
const call = (...args) => agent(ctx.kb)(...args);

async function keysLabelled(prefix) {
  const res = await ctx.kb.admin(`/v1/keys?label_prefix=${encodeURIComponent(prefix)}`);
  assert.equal(res.status, 200, res.text);
  return res.json.data;
}

test("per request: one key charges the customer, then is revoked", async () => {
  const res = await call("/charge", { headers: { "x-workflow-id": "ex_1" }, body: { customerId: "cus_ex1", amountCents: 1234 } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.amount, 1234);
  const [upstream] = received(ctx.stripe, "cus_ex1");
  assert.deepEqual(upstream.form, { amount: "1234", currency: "usd", customer: "cus_ex1" });
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.stripe.secret}`);
  const keys = await keysLabelled("workers-charge-ex_1");
  assert.equal(keys.length, 1);
  assert.equal(keys[0].status, "revoked");
});

test("per request: a charge over the cap is a CapExhaustedError, answered 402, and the key still revoked", async () => {
  const before = ctx.stripe.requests.length;
  const res = await call("/charge", { headers: { "x-workflow-id": "ex_2" }, body: { customerId: "cus_ex2", amountCents: 50_001 } });
  assert.equal(res.status, 402, res.text);
  assert.equal(res.json.error, "spend_cap_exceeded");
  assert.match(res.json.request_id, /^req_/, "the error carries the audit row's id");
  assert.equal(ctx.stripe.requests.length, before, "nothing reached Stripe");
  const [key] = await keysLabelled("workers-charge-ex_2");
  assert.equal(key.status, "revoked");
  const rows = await ctx.kb.auditUntil({ key_id: key.id }, (r) => r.length === 1);
  assert.equal(rows[0].code, "cap_exhausted");
});

test("two vendors: Stripe and Twilio keys issued in parallel under one run label, both revoked", async () => {
  const res = await call("/charge-and-notify", {
    headers: { "x-workflow-id": "ex_3" },
    body: { customerId: "cus_ex3", amountCents: 700, phone: "+15551230003" },
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.payment.amount, 700);
  assert.equal(res.json.sms.to, "+15551230003");
  assert.equal(received(ctx.stripe, "cus_ex3").length, 1);
  const sms = ctx.twilio.requests.filter((r) => r.form?.To === "+15551230003");
  assert.equal(sms.length, 1);
  assert.ok(sms[0].path.includes(`/Accounts/${ctx.twilio.accountSid}/`), "the placeholder SID became the real one");
  const keys = await keysLabelled("run-ex_3");
  assert.deepEqual(keys.map((k) => k.vendor).sort(), ["stripe", "twilio"]);
  assert.ok(keys.every((k) => k.status === "revoked"));
  const rows = await ctx.kb.auditUntil({ label: "run-ex_3" }, (r) => r.length === 2);
  assert.deepEqual(rows.map((r) => r.vendor).sort(), ["stripe", "twilio"]);
});

test("workflow: issue, charge and revoke as steps; a retried issue step leaves one key, not two", async () => {
  const started = await call("/billing", { body: { customerId: "cus_ex4", amountCents: 1500, runId: "ex_4", failIssueOnce: true } });
  assert.equal(started.status, 200, started.text);
  const status = await workflowStatus(`/billing/${started.json.id}`);
  assert.equal(status.status, "complete", JSON.stringify(status));
  assert.equal(status.output.amount, 1500);
  // Workflows store what each step returns: the vault key's token is never among it.
  assert.doesNotMatch(JSON.stringify(status), /kbk_[0-9a-f]{24}_/, "no step output carries the token");
  const keys = await keysLabelled("workflow-ex_4-charge-step");
  assert.equal(keys.length, 1, "the retried step got the same key back");
  assert.equal(keys[0].status, "revoked");
  assert.equal(received(ctx.stripe, "cus_ex4").length, 1);
});

test("MCP agent: a Worker's MCP client reaches Keybrake over the service binding, sees the key's tools and pays", async () => {
  const res = await call("/mcp-charge", { body: { customerId: "cus_ex_mcp", amountCents: 1200, runId: "ex_mcp" } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.tools.sort(), ["stripe_create_payment_intent", "stripe_request", "stripe_retrieve_payment_intent"]);
  assert.equal(res.json.isError, false, res.json.text);
  assert.equal(res.json.payment.amount, 1200);
  assert.match(res.json.text, /Charged \$12\.00/);
  const [upstream] = received(ctx.stripe, "cus_ex_mcp");
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.stripe.secret}`);
  const [key] = await keysLabelled("mcp-agent-ex_mcp");
  assert.equal(key.status, "revoked");
  const rows = await ctx.kb.auditUntil({ key_id: key.id }, (r) => r.length >= 1);
  assert.equal(rows[0].via, "mcp");
});

/** A workflow's status once it stops running (complete or errored). */
async function workflowStatus(path) {
  return eventually(async () => (await call(path, { method: "GET" })).json, (s) => s.status === "complete" || s.status === "errored", {
    timeoutMs: 20_000,
    what: `the workflow at ${path} to finish`,
  });
}

/** The approval a payout run is waiting on, once it exists. */
async function pendingApproval(runId) {
  const pending = await eventually(
    async () => {
      const [key] = await keysLabelled(`payout-${runId}`);
      return key ? (await ctx.kb.admin(`/v1/approvals?key_id=${key.id}&status=pending`)).json.data : [];
    },
    (approvals) => approvals.length > 0,
    { timeoutMs: 15_000, what: `a pending approval for payout-${runId}` },
  );
  return pending[0];
}

test("approval workflow: a payout above $100 waits for a person, then goes through once", async () => {
  const started = await call("/payout", { body: { customerId: "cus_ex_pay", amountCents: 25_000, runId: "ex_pay", pollEvery: "1 second" } });
  assert.equal(started.status, 200, started.text);
  const approval = await pendingApproval("ex_pay");
  assert.equal(approval.cost_usd, 250);
  assert.equal(approval.request.customer, "cus_ex_pay");
  assert.equal(received(ctx.stripe, "cus_ex_pay").length, 0, "nothing paid before the approval");
  const running = await call(`/payout/${started.json.id}`, { method: "GET" });
  assert.equal(running.status, 200, running.text);
  assert.ok(["running", "waiting"].includes(running.json.status), `still in progress: ${running.json.status}`);

  const approved = await ctx.kb.admin(`/v1/approvals/${approval.id}/approve`, { method: "POST", body: { note: "ok" } });
  assert.equal(approved.status, 200, approved.text);
  const done = await workflowStatus(`/payout/${started.json.id}`);
  assert.equal(done.status, "complete", JSON.stringify(done));
  assert.equal(done.output.status, "paid");
  assert.doesNotMatch(JSON.stringify(done), /kbk_[0-9a-f]{24}_/, "no step output carries the token");
  assert.equal(done.output.payment.amount, 25_000);
  assert.equal(received(ctx.stripe, "cus_ex_pay").length, 1, "paid once");
  const [key] = await keysLabelled("payout-ex_pay");
  assert.equal(key.status, "revoked");
});

test("approval workflow: a denied payout ends the run without paying", async () => {
  const started = await call("/payout", { body: { customerId: "cus_ex_deny", amountCents: 30_000, runId: "ex_deny", pollEvery: "1 second" } });
  const approval = await pendingApproval("ex_deny");
  await ctx.kb.admin(`/v1/approvals/${approval.id}/deny`, { method: "POST", body: { note: "not today" } });
  const done = await workflowStatus(`/payout/${started.json.id}`);
  assert.equal(done.status, "complete", JSON.stringify(done));
  assert.deepEqual(done.output, { status: "denied", approvalId: approval.id });
  assert.equal(received(ctx.stripe, "cus_ex_deny").length, 0);
});

test("session: the Durable Object reuses its 15-minute key, and a revoked key ends the session", async () => {
  const first = await call("/sessions/ex_5/charge", { body: { customerId: "cus_ex5", amountCents: 100 } });
  const second = await call("/sessions/ex_5/charge", { body: { customerId: "cus_ex5", amountCents: 200 } });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.status, 200);
  assert.equal(first.json.payment.amount, 100);
  assert.equal(second.json.keyId, first.json.keyId, "one key for the session");
  const other = await call("/sessions/ex_5b/charge", { body: { customerId: "cus_ex5b", amountCents: 100 } });
  assert.equal(other.json.status, 200, other.text);
  assert.match(other.json.keyId, /^key_[0-9a-f]{24}$/);
  assert.notEqual(other.json.keyId, first.json.keyId, "another session, another key");
  const key = await ctx.kb.admin(`/v1/keys/${first.json.keyId}`);
  assert.equal(key.json.daily_usd_cap, 200);
  assert.equal(key.json.spent_today_usd, 3);
  const ttl = Date.parse(key.json.expires_at) - Date.parse(key.json.created_at);
  assert.equal(ttl, 15 * 60 * 1000);

  // The kill switch: the session does not quietly issue itself a new key.
  const killed = await ctx.kb.admin("/v1/keys/revoke-all", { method: "POST", body: { label_prefix: `session-` } });
  assert.equal(killed.json.revoked, 2);
  const after = await call("/sessions/ex_5/charge", { body: { customerId: "cus_ex5", amountCents: 300 } });
  assert.equal(after.status, 409, after.text);
  assert.equal(after.json.error, "session_revoked");
  assert.match(after.json.requestId, /^req_/);
  assert.equal(ctx.stripe.requests.filter((r) => r.form?.customer === "cus_ex5").length, 2, "the third charge never reached Stripe");
  const sessionKeys = await keysLabelled("session-");
  assert.equal(sessionKeys.length, 2, "no replacement key was issued");
});
