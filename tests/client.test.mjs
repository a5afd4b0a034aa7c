// The Workers client (clients/workers) inside workerd over a service
// binding, and from Node over a URL, against the real Keybrake Worker.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
import { eventually, sleep } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { outputFiles } = await build({
  entryPoints: [path.join(root, "tests/fixtures/client-driver.mjs")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  write: false,
  alias: { "@keybrake/workers": path.join(root, "clients/workers/src/index.ts") },
});
const driverWorker = {
  name: "client-driver",
  modules: [{ type: "ESModule", path: "driver.mjs", contents: outputFiles[0].text }],
  compatibilityDate: "2026-04-01",
  serviceBindings: { KEYBRAKE: "keybrake" },
  bindings: { KEYBRAKE_TOKEN: ADMIN_TOKEN },
  kvNamespaces: ["KV"],
};
const ctx = useKeybrake({}, { extraWorkers: [driverWorker], port: 0 });

async function run(scenario, args) {
  const worker = await ctx.kb.mf.getWorker("client-driver");
  const res = await worker.fetch("http://driver.local/", { method: "POST", body: JSON.stringify({ scenario, args }) });
  const text = await res.text();
  ctx.kb.seen.push(text);
  const out = JSON.parse(text);
  if (out.result?.token) ctx.kb.issuedTokens.set(out.result.token, (ctx.kb.issuedTokens.get(out.result.token) ?? 0) + 1);
  return out;
}

const policy = (over = {}) => ({
  label: "client-test",
  vendor: "stripe",
  allowed_endpoints: ["POST /v1/payment_intents"],
  daily_usd_cap: 10,
  expires_in: "10m",
  ...over,
});

async function issue(over) {
  const { result, error } = await run("issue", { policy: policy(over) });
  assert.equal(error, undefined, JSON.stringify(error));
  return result;
}

const charge = (key, amount, extra = {}) =>
  run("proxy", { vendor: "stripe", path: "/v1/payment_intents", init: { key, method: "POST", body: { amount, currency: "usd", ...extra } } });

test("refusals become error classes with Keybrake's code, status and request id", async () => {
  const key = await issue({ label: "client-errors" });
  const ok = await charge(key.token, 400);
  assert.equal(ok.result.status, 200);

  const cases = [
    [await charge(key.token, 700), "CapExhaustedError", "cap_exhausted", 429],
    [await run("proxy", { vendor: "stripe", path: "/v1/customers", init: { key: key.token, method: "POST", body: {} } }), "EndpointNotAllowedError", "endpoint_not_allowed", 403],
    [await run("proxy", { vendor: "twilio", path: "/2010-04-01/Accounts/AC1/Messages.json", init: { key: key.token, method: "POST", body: "To=%2B1" } }), "VendorMismatchError", "vendor_mismatch", 403],
    [await charge("kbk_" + "0".repeat(24) + "_" + "0".repeat(48), 1), "InvalidKeyError", "invalid_key", 401],
  ];
  const limited = await issue({ label: "client-constrained", constraints: { max_amount_usd: 1, rate_limit: { requests: 1, per: "hour" } } });
  const overLimit = await charge(limited.token, 101);
  cases.push([overLimit, "ConstraintViolatedError", "constraint_violated", 403]);
  assert.equal(overLimit.error.param, "constraints.max_amount_usd");
  assert.equal((await charge(limited.token, 50)).result.status, 200);
  cases.push([await charge(limited.token, 60), "RateLimitedError", "rate_limited", 429]);
  const paused = await run("pauseKey", { id: key.id });
  assert.equal(paused.result.status, "paused");
  cases.push([await charge(key.token, 1), "KeyPausedError", "key_paused", 423]);
  assert.equal((await run("resumeKey", { id: key.id })).result.status, "active");
  const updated = await run("updateKey", { id: key.id, change: { daily_usd_cap: 20 } });
  assert.equal(updated.result.daily_usd_cap, 20);
  assert.equal(updated.result.spent_today_usd, 4);
  const badChange = await run("updateKey", { id: key.id, change: { label: "renamed" } });
  assert.equal(badChange.error.class, "BadRequestError");
  assert.equal(badChange.error.param, "label");
  await run("revokeKey", { id: key.id });
  cases.push([await charge(key.token, 1), "KeyRevokedError", "key_revoked", 401]);
  const short = await issue({ label: "client-expiring", expires_in: "1s" });
  await sleep(1100);
  cases.push([await charge(short.token, 1), "KeyExpiredError", "key_expired", 401]);

  for (const [{ error }, cls, code, status] of cases) {
    assert.ok(error, `${cls}: expected an error`);
    assert.equal(error.class, cls);
    assert.equal(error.isKeybrakeError, true);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    assert.match(error.requestId, /^req_/);
  }
  assert.equal(cases[0][0].error.keyId, key.id);
  assert.equal(received(ctx.stripe, "amount=700").length, 0, "refused calls never reached Stripe");
});

test("approvals: the refusal names the approval; approve, wait for it, and the same call goes through", async () => {
  const key = await issue({ label: "client-approval", constraints: { approval_above_usd: 2 } });
  const asked = await charge(key.token, 300, { description: "client-approval" });
  assert.equal(asked.error.class, "ApprovalRequiredError");
  assert.equal(asked.error.code, "approval_required");
  assert.equal(asked.error.status, 403);
  const id = asked.error.approvalId;
  assert.match(id, /^apr_/);
  assert.equal(received(ctx.stripe, "client-approval").length, 0);

  const pending = await run("waitForApproval", { id, timeoutMs: 300 });
  assert.equal(pending.result.status, "pending", "still pending when the wait runs out");
  const approved = await run("approve", { id, note: "yes" });
  assert.equal(approved.result.status, "approved");
  assert.equal((await run("waitForApproval", { id, timeoutMs: 2000 })).result.status, "approved");
  assert.equal((await charge(key.token, 300, { description: "client-approval" })).result.status, 200);
  assert.equal((await run("getApproval", { id })).result.status, "used");
  const closed = await run("deny", { id });
  assert.equal(closed.error.class, "ApprovalClosedError");
  assert.equal(closed.error.status, 409);

  const other = await charge(key.token, 250, { description: "client-approval-2" });
  assert.equal((await run("deny", { id: other.error.approvalId, note: "no" })).result.status, "denied");
  const listed = await eventually(
    () => run("listApprovals", { query: { key_id: key.id } }),
    (out) => out.result?.data.length === 2 && out.result.data.every((a) => a.status !== "pending"),
    { what: "the key's two approvals listed, both decided" },
  );
  assert.deepEqual(listed.result.data.map((a) => a.status).sort(), ["denied", "used"]);
});

test("a vendor's own error comes back as a response, not a Keybrake error", async () => {
  const key = await issue({ label: "client-vendor-error" });
  // The fake Stripe declines this card, as Stripe would, with a 402.
  const out = await charge(key.token, 100, { payment_method: "pm_card_chargeDeclined" });
  assert.equal(out.error, undefined);
  assert.equal(out.result.status, 402);
  assert.equal(out.result.body.error.code, "card_declined");
});

test("management errors: bad input names the field, a wrong token and an unknown key have their classes", async () => {
  const bad = await run("issue", { policy: policy({ daily_usd_cap: -1 }) });
  assert.equal(bad.error.class, "BadRequestError");
  assert.equal(bad.error.param, "daily_usd_cap");
  const wrong = await run("wrongToken", {});
  assert.equal(wrong.error.class, "UnauthorizedError");
  const missing = await run("getKey", { id: "key_" + "f".repeat(24) });
  assert.equal(missing.error.class, "NotFoundError");
  assert.equal(missing.error.status, 404);
});

test("idempotent issuance: a retry gets the same key and token; another policy is a conflict", async () => {
  const a = await run("issue", { policy: policy({ label: "client-idem" }), idempotencyKey: "wf_9:step-1" });
  const b = await run("issue", { policy: policy({ label: "client-idem", expires_in: 600 }), idempotencyKey: "wf_9:step-1" });
  assert.equal(b.result.id, a.result.id);
  assert.equal(b.result.token, a.result.token);
  assert.equal(b.result.expires_at, a.result.expires_at, "the first issuance's expiry, not a new one");
  const listed = await run("listKeys", { query: { label_prefix: "client-idem" } });
  assert.equal(listed.result.data.length, 1);
  const conflict = await run("issue", { policy: policy({ label: "client-idem", daily_usd_cap: 11 }), idempotencyKey: "wf_9:step-1" });
  assert.equal(conflict.error.class, "IdempotencyConflictError");
  assert.equal(conflict.error.status, 409);
  // The key works, and revoking it is seen by a replay.
  assert.equal((await charge(a.result.token, 1)).result.status, 200);
  await run("revokeKey", { id: a.result.id });
  const replay = await run("issue", { policy: policy({ label: "client-idem" }), idempotencyKey: "wf_9:step-1" });
  assert.equal(replay.result.status, "revoked");
  const raw = await ctx.kb.admin("/v1/keys", { method: "POST", headers: { "idempotency-key": "k".repeat(256) }, body: policy() });
  assert.equal(raw.status, 400);
  assert.equal(raw.json.param, "Idempotency-Key");
});

test("withVaultKey revokes the key even when the work throws", async () => {
  const { result } = await run("withVaultKeyThrows", { policy: policy({ label: "client-with" }) });
  assert.equal(result.error, "the agent failed");
  const key = await run("getKey", { id: result.keyId });
  assert.equal(key.result.status, "revoked");
});

test("withVaultKeys issues in parallel and revokes all; a failed issuance revokes the others", async () => {
  const ok = await run("withVaultKeys", {
    policies: { stripe: policy({ label: "client-multi" }), twilio: policy({ label: "client-multi", vendor: "twilio", allowed_endpoints: ["/2010-04-01/**"] }) },
    path: "/v1/payment_intents",
    body: { amount: 100, currency: "usd" },
  });
  assert.equal(ok.result.status, 200);
  for (const id of Object.values(ok.result.ids)) assert.equal((await run("getKey", { id })).result.status, "revoked");

  const failed = await run("withVaultKeys", {
    policies: { stripe: policy({ label: "client-multi-fail" }), twilio: policy({ label: "client-multi-fail", vendor: "twilio", allowed_endpoints: [] }) },
    path: "/v1/payment_intents",
    body: { amount: 100, currency: "usd" },
  });
  assert.equal(failed.error.class, "BadRequestError");
  assert.equal(failed.error.param, "allowed_endpoints");
  const left = await run("listKeys", { query: { label_prefix: "client-multi-fail" } });
  assert.equal(left.result.data.length, 1, "the Stripe key was issued");
  assert.equal(left.result.data[0].status, "revoked", "and revoked when its sibling failed");
});

test("KeyCache in KV: one key for concurrent callers, reused until the margin, never handed out expired", async () => {
  // A one-minute key with a 58.5 s margin is reusable for 1.5 s.
  const p = policy({ label: "client-cache", expires_in: "1m" });
  const get = async (over = {}) => {
    const out = await run("cache", { policy: { ...p, ...over }, marginSeconds: 58.5 });
    assert.equal(out.error, undefined, JSON.stringify(out.error));
    assert.match(out.result.a, /^key_[0-9a-f]{24}$/);
    return out.result;
  };
  const first = await get();
  assert.equal(first.a, first.b, "concurrent callers share one issuance");
  assert.equal((await get()).a, first.a, "outside the margin the key is reused");
  await sleep(1600);
  const renewed = await get();
  assert.notEqual(renewed.a, first.a, "inside the margin a new key is issued");
  const changed = await get({ daily_usd_cap: 20 });
  assert.notEqual(changed.a, renewed.a, "a changed policy gets its own key");
  const tooShort = await run("cache", { policy: p, marginSeconds: 61 });
  assert.equal(tooShort.error.class, "RangeError", "a TTL inside the margin would never be usable");
  const inv = (await run("invalidate", { policy: policy({ label: "client-cache-2" }), revoke: true })).result;
  assert.match(inv.after, /^key_[0-9a-f]{24}$/);
  assert.notEqual(inv.after, inv.before);
  assert.equal((await run("getKey", { id: inv.before })).result.status, "revoked");
});

test("auditAll follows the cursor; audit takes filters", async () => {
  const key = await issue({ label: "client-audit", daily_usd_cap: 100 });
  for (let i = 0; i < 3; i++) await charge(key.token, 100);
  await ctx.kb.auditUntil({ key_id: key.id }, (rows) => rows.length === 3);
  const all = await run("auditAll", { query: { key_id: key.id, limit: 1 } });
  assert.equal(all.result.length, 3);
  assert.ok(all.result.every((r) => r.key_id === key.id && r.decision === "allowed" && r.cost_usd === 1));
  const page = await run("audit", { query: { key_id: key.id, limit: 2 } });
  assert.equal(page.result.data.length, 2);
  assert.ok(page.result.next_cursor);
});

/** A helper call (`issuers.create`, …) that must succeed. */
async function helper(name, ...args) {
  const { result, error } = await run("helper", { name, args });
  assert.equal(error, undefined, `${name}: ${JSON.stringify(error)}`);
  return result;
}

test("issuers: create shows the token once; the issuer issues inside its ceilings; revoking kills it and its keys", async () => {
  const issuer = await helper("issuers.create", {
    label: "client-issuer",
    vendors: ["stripe"],
    endpoint_ceiling: ["POST /v1/payment_intents"],
    max_daily_usd_cap: 20,
    max_live_keys: 2,
    max_daily_spend_usd: 100,
  });
  assert.match(issuer.token, /^kbi_[0-9a-f]{24}_[0-9a-f]{48}$/);
  assert.equal(issuer.max_live_keys, 2);
  const listed = (await helper("issuers.list")).data.find((i) => i.id === issuer.id);
  assert.equal(listed.label, "client-issuer");
  assert.equal(listed.token, undefined, "the token is in the creation answer only");

  const asIssuer = (over) => run("issue", { as: issuer.token, policy: policy(over) });
  const own = await asIssuer({ label: "client-issuer-run", daily_usd_cap: 5 });
  assert.equal(own.error, undefined, JSON.stringify(own.error));
  const over = await asIssuer({ label: "client-issuer-big", daily_usd_cap: 21 });
  assert.equal(over.error.class, "CeilingExceededError");
  assert.equal(over.error.param, "max_daily_usd_cap");
  const notAdmin = await run("helper", { as: issuer.token, name: "issuers.list", args: [] });
  assert.equal(notAdmin.error.class, "ForbiddenError");
  assert.equal((await helper("issuers.get", issuer.id)).live_keys, 1);

  const revoked = await helper("issuers.revoke", issuer.id);
  assert.equal(revoked.status, "revoked");
  assert.equal(revoked.revoked_keys, 1);
  assert.equal((await asIssuer({ label: "client-issuer-late" })).error.class, "UnauthorizedError");
  assert.equal((await run("getKey", { id: own.result.id })).result.status, "revoked");
});

test("budgets: set, lease under it, raise, delete; usage agrees with the audit log", async () => {
  const label = "client-budget-run";
  const budget = await helper("budgets.set", { vendor: "stripe", label_prefix: "client-budget-", daily_usd_cap: 40 });
  assert.match(budget.id, /^bud_[0-9a-f]{24}$/);
  assert.equal(budget.daily_usd_cap, 40);
  const key = await issue({ label, daily_usd_cap: 10 });
  assert.equal((await charge(key.token, 1000)).result.status, 200);
  const leased = await helper("budgets.get", budget.id);
  assert.ok(leased.leased_today_usd > 0, `leased ${leased.leased_today_usd}`);
  assert.equal(leased.keys_today, 1);

  const raised = await helper("budgets.set", { vendor: "stripe", label_prefix: "client-budget-", daily_usd_cap: "55.50" });
  assert.equal(raised.id, budget.id, "the same vendor and prefix is the same budget");
  assert.equal((await helper("budgets.get", budget.id)).daily_usd_cap, 55.5);
  const bad = await run("helper", { name: "budgets.set", args: [{ vendor: "stripe", daily_usd_cap: -1 }] });
  assert.equal(bad.error.class, "BadRequestError");
  assert.equal(bad.error.param, "daily_usd_cap");

  await helper("budgets.delete", budget.id);
  assert.equal((await helper("budgets.list")).data.some((b) => b.id === budget.id), false);
  assert.equal((await run("helper", { name: "budgets.get", args: [budget.id] })).error.class, "NotFoundError");

  const rows = await ctx.kb.auditUntil({ label }, (r) => r.length >= 1);
  const usage = await run("usage", { query: { group_by: "label", label_prefix: label } });
  assert.equal(usage.error, undefined, JSON.stringify(usage.error));
  assert.equal(usage.result.group_by, "label");
  assert.deepEqual(
    usage.result.data.map((r) => [r.label, r.calls, r.cost_usd]),
    [[label, rows.length, rows.reduce((s, r) => s + r.cost_usd, 0)]],
  );
  assert.equal(usage.result.total.calls, rows.length);
});

test("over a URL from outside Workers: the same client with baseUrl and token", async () => {
  const { Keybrake, KeyRevokedError } = await import("../clients/workers/dist/index.js");
  const kb = new Keybrake({ baseUrl: ctx.kb.url, token: ADMIN_TOKEN });
  const key = await kb.issueKey(policy({ label: "client-url" }));
  // Issued over HTTP from here: no answer the scan sees may carry it.
  ctx.kb.issuedTokens.set(key.token, 0);
  const stripeFetch = kb.vendorFetch(key);
  const res = await stripeFetch("/v1/payment_intents", { method: "POST", body: { amount: 250, currency: "usd" } });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).amount, 250);
  assert.equal((await kb.revokeAll({ label_prefix: "client-url" })).revoked, 1);
  await assert.rejects(stripeFetch("/v1/payment_intents", { method: "POST", body: { amount: 1, currency: "usd" } }), KeyRevokedError);
  assert.throws(() => new Keybrake({}), /binding|baseUrl/);
});
