// The vendors' Python SDKs (stripe, twilio, resend from PyPI, pinned in
// tests/python/requirements.txt) pointed at Keybrake by base URL alone:
// the real secret reaches the vendor, never the vault key; refusals raise
// the SDK's own errors with Keybrake's code readable; nothing is retried.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
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
  await new Promise((r) => setTimeout(r, 300));
  return (await ctx.kb.auditUntil({ key_id: keyId }, () => true)).length;
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
