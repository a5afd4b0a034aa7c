// The vendors' Python SDKs (stripe, twilio, resend from PyPI, pinned in
// tests/python/requirements.txt) pointed at Keybrake by base URL alone:
// the real secret reaches the vendor, never the vault key; refusals raise
// the SDK's own errors with Keybrake's code readable; nothing is retried.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sleep } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ctx = useKeybrake({}, { port: 0 });

function python(...args) {
  return new Promise((resolve, reject) => {
    execFile(path.join(root, ".venv/bin/python"), [path.join(root, "tests/python/sdk_clients.py"), ctx.kb.url, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      ctx.kb.seen.push(stdout);
      resolve(JSON.parse(stdout));
    });
  });
}

/** How many attempts the key's audit log holds, once `expected` have landed. */
async function attempts(keyId, expected) {
  await ctx.kb.auditUntil({ key_id: keyId }, (rows) => rows.length >= expected, 3000);
  // A moment more, so a retry the SDK might send would have landed too.
  await sleep(300);
  return (await ctx.kb.audit({ key_id: keyId })).length;
}

test("stripe-python: pays through Keybrake; the cap and the allowlist raise its own errors, not retried", async () => {
  const key = await ctx.kb.issueKey({ label: "py-stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 25 });
  const out = await python(key.token, "stripe");
  assert.equal(out.created.amount, 2000);
  const [upstream] = received(ctx.stripe, "cus_py_sdk");
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.stripe.secret}`);
  assert.ok(!JSON.stringify(upstream).includes(key.token), "the vault key never reaches Stripe");
  // stripe-python leaves `code` empty on 403 and 429: Keybrake's code is
  // in `e.error.code` and the Keybrake-Error-Code header.
  assert.equal(out.capped.class, "RateLimitError");
  assert.equal(out.capped.http_status, 429);
  assert.equal(out.capped.error_code, "cap_exhausted");
  assert.equal(out.capped.keybrake_error_code, "cap_exhausted");
  assert.equal(out.not_allowed.class, "PermissionError");
  assert.equal(out.not_allowed.http_status, 403);
  assert.equal(out.not_allowed.error_code, "endpoint_not_allowed");
  assert.equal(received(ctx.stripe, "cus_py_sdk_over").length, 0);
  assert.equal(await attempts(key.id, 3), 3, "no retry of a refusal");
});

test("twilio-python: sends on the real account; refusals raise TwilioRestException with Keybrake's code", async () => {
  const key = await ctx.kb.issueKey({ label: "py-twilio", vendor: "twilio", allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"], daily_usd_cap: 0.01 });
  const out = await python(key.token, "twilio", key.account_sid);
  assert.match(out.sent.sid, /^SM/);
  assert.equal(out.sent.account_sid, ctx.twilio.accountSid);
  const [upstream] = received(ctx.twilio, "py-sdk-twilio");
  assert.equal(upstream.path, `/2010-04-01/Accounts/${ctx.twilio.accountSid}/Messages.json`);
  assert.equal(upstream.headers.authorization, `Basic ${Buffer.from(`${ctx.twilio.accountSid}:${ctx.twilio.authToken}`).toString("base64")}`);
  assert.ok(!JSON.stringify(upstream).includes(key.token));
  assert.equal(out.capped.class, "TwilioRestException");
  assert.equal(out.capped.status, 429);
  assert.equal(out.capped.code, 90429);
  assert.equal(out.capped.details.keybrake_code, "cap_exhausted");
  assert.equal(out.not_allowed.status, 403);
  assert.equal(out.not_allowed.details.keybrake_code, "endpoint_not_allowed");
  assert.equal(await attempts(key.id, 3), 3, "no retry of a refusal");
});

test("resend-python: sends through Keybrake; refusals raise its errors naming Keybrake's code", async () => {
  const key = await ctx.kb.issueKey({ label: "py-resend", vendor: "resend", allowed_endpoints: ["POST /emails"], daily_usd_cap: 0.0009 });
  const out = await python(key.token, "resend");
  assert.match(out.sent.id, /^email_/);
  const [upstream] = received(ctx.resend, "py-sdk-resend");
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.resend.apiKey}`);
  assert.ok(!JSON.stringify(upstream).includes(key.token));
  assert.match(out.capped.class, /Error$/);
  assert.match(out.capped.message, /cap/);
  assert.equal(out.capped.code, 429);
  assert.match(out.not_allowed.message, /not in this key's allowed endpoints/);
  assert.equal(received(ctx.resend, "py-sdk-resend-2").length, 0);
});

/** examples/python/agent.py with an issuer token, as README's Python section shows it. */
function agent(token, ...args) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, KEYBRAKE_URL: ctx.kb.url, KEYBRAKE_TOKEN: token };
    execFile(path.join(root, ".venv/bin/python"), [path.join(root, "examples/python/agent.py"), ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      ctx.kb.seen.push(stdout);
      resolve(JSON.parse(stdout));
    });
  });
}

test("examples/python/agent.py: a run pays once with its own key, which is revoked after; a retried run cannot pay again; the cap holds", async () => {
  const issuer = await ctx.kb.admin("/v1/issuers", {
    method: "POST",
    body: { label: "py-agents", vendors: ["stripe"], endpoint_ceiling: ["POST /v1/payment_intents"], max_daily_usd_cap: 50, max_live_keys: 5, max_daily_spend_usd: 200, label_prefix: "py-agent-" },
  });
  assert.equal(issuer.status, 201, issuer.text);
  const token = issuer.json.token;

  const paid = await agent(token, "run-1", "2000", "cus_py_agent");
  assert.match(paid.paid, /^pi_/);
  const [upstream] = received(ctx.stripe, "cus_py_agent");
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.stripe.secret}`);
  const key = (await ctx.kb.admin(`/v1/keys/${paid.key_id}`)).json;
  assert.equal(key.status, "revoked", "the run's key dies with the run");
  assert.equal(key.issuer_id, issuer.json.id);
  assert.equal(key.spent_today_usd, 20);

  // The same run again gets the same (now revoked) key back: no second payment.
  const retried = await agent(token, "run-1", "2000", "cus_py_agent");
  assert.deepEqual(retried, { refused: "key_revoked", status: 401, key_id: paid.key_id });
  assert.equal(received(ctx.stripe, "cus_py_agent").length, 1);

  const capped = await agent(token, "run-2", "6000", "cus_py_agent_2");
  assert.equal(capped.refused, "cap_exhausted");
  assert.equal(capped.status, 429);
  assert.equal(received(ctx.stripe, "cus_py_agent_2").length, 0);
  assert.equal((await ctx.kb.admin(`/v1/keys/${capped.key_id}`)).json.status, "revoked");
});
