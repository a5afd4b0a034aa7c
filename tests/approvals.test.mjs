// Approvals: a call priced above a key's approval_above_usd is never
// forwarded until a person approves that exact request; its cost is held
// against the cap meanwhile; approvals are single-use, expire, and every
// step is audited.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually } from "./support/poll.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

const policy = (over = {}) => ({
  label: "apr-run",
  vendor: "stripe",
  allowed_endpoints: ["POST /v1/payment_intents"],
  daily_usd_cap: 200,
  expires_in: "30m",
  constraints: { approval_above_usd: 50 },
  ...over,
});

/** A payment of `dollars` to `customer`, marked so the fake records it. */
const pay = (token, dollars, marker, { customer = "cus_123", headers = {} } = {}) =>
  ctx.kb.proxy(token, "/stripe/v1/payment_intents", {
    body: `amount=${dollars * 100}&currency=usd&customer=${customer}&description=${marker}`,
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
  });

const decide = (id, step, note) => ctx.kb.admin(`/v1/approvals/${id}/${step}`, { method: "POST", body: note === undefined ? undefined : { note } });
const reserved = async (id) => (await ctx.kb.admin(`/v1/keys/${id}`)).json.reserved_today_usd;

/** Asserts a 403 approval_required naming an approval, and returns its id. */
function approvalOf(res) {
  assert.equal(res.status, 403, res.text);
  assert.equal(res.headers.get("keybrake-error-code"), "approval_required");
  const id = res.headers.get("keybrake-approval-id");
  assert.match(id, /^apr_[0-9a-f]{24}_[0-9a-f]+$/);
  assert.equal(res.json.error.code, "approval_required");
  assert.equal(res.json.error.approval_id, id, "stripe-node keeps it in err.raw");
  assert.equal(res.json.approval_id, id);
  return id;
}

test("above the threshold nothing is forwarded until a person approves that exact request; then it goes through once", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "apr-basic", daily_usd_cap: 300 }));
  const small = await pay(key.token, 40, "apr-small");
  assert.equal(small.status, 200, "at or under the threshold a call goes straight through");

  const asked = await pay(key.token, 60, "apr-big");
  const id = approvalOf(asked);
  assert.equal(received(ctx.stripe, "apr-big").length, 0, "not forwarded");
  assert.equal(await reserved(key.id), 60, "its cost is held against the cap while it waits");

  // Asking again before a decision answers the same approval, holding nothing more.
  assert.equal(approvalOf(await pay(key.token, 60, "apr-big")), id);
  assert.equal(await reserved(key.id), 60);

  const shown = await ctx.kb.admin(`/v1/approvals/${id}`);
  assert.equal(shown.status, 200, shown.text);
  assert.equal(shown.json.status, "pending");
  assert.equal(shown.json.key_id, key.id);
  assert.equal(shown.json.label, "apr-basic");
  assert.equal(shown.json.cost_usd, 60);
  assert.deepEqual(
    { method: shown.json.request.method, path: shown.json.request.path, amount: shown.json.request.amount, currency: shown.json.request.currency, customer: shown.json.request.customer },
    { method: "POST", path: "/v1/payment_intents", amount: 6000, currency: "usd", customer: "cus_123" },
  );

  const approved = await decide(id, "approve", "ok for the March invoice");
  assert.equal(approved.status, 200, approved.text);
  assert.equal(approved.json.status, "approved");
  assert.equal(approved.json.decided_by, "admin");
  assert.equal(approved.json.note, "ok for the March invoice");

  // The approval is bound to its request: another customer, another amount are new asks.
  const other = approvalOf(await pay(key.token, 60, "apr-big", { customer: "cus_456" }));
  assert.notEqual(other, id);
  assert.notEqual(approvalOf(await pay(key.token, 61, "apr-big")), id);
  assert.equal(received(ctx.stripe, "apr-big").length, 0, "nothing went through on someone else's approval");

  const used = await pay(key.token, 60, "apr-big");
  assert.equal(used.status, 200, used.text);
  assert.equal(used.headers.get("keybrake-cost-usd"), "60.00");
  assert.equal(received(ctx.stripe, "apr-big").length, 1, "forwarded once");
  const after = await ctx.kb.admin(`/v1/approvals/${id}`);
  assert.equal(after.json.status, "used");
  assert.equal(after.json.used_by, used.headers.get("keybrake-request-id"));

  // Single use: the same request again needs a new approval.
  const again = approvalOf(await pay(key.token, 60, "apr-big"));
  assert.notEqual(again, id);
  assert.equal(received(ctx.stripe, "apr-big").length, 1);
  // A decided approval stays decided.
  const late = await decide(id, "deny");
  assert.equal(late.status, 409, late.text);
  assert.equal(late.json.code, "approval_closed");

  // Charged once: 40 + 60 kept, and three approvals (cus_456, $61, the repeat) still holding.
  const state = await eventually(() => ctx.kb.admin(`/v1/keys/${key.id}`), (r) => r.json.reserved_today_usd === 60 + 61 + 60, {
    what: "three approvals holding $181",
  });
  assert.equal(state.json.spent_today_usd, 100);
  assert.equal(state.json.reserved_today_usd, 181);
});

test("denial releases the hold at once; expiry releases it on time; neither can then be used", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "apr-release" }));
  const denied = approvalOf(await pay(key.token, 80, "apr-deny"));
  assert.equal(await reserved(key.id), 80);
  const res = await decide(denied, "deny", "not this one");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.status, "denied");
  assert.equal(await reserved(key.id), 0, "released at once");
  assert.notEqual(approvalOf(await pay(key.token, 80, "apr-deny")), denied, "the request must be asked for again");
  assert.equal(received(ctx.stripe, "apr-deny").length, 0);

  // An approval asked for (by the key's clock) 15 minutes minus 1.5 s ago
  // expires 1.5 s from now; the key's object releases its hold then.
  const key2 = await ctx.kb.issueKey(policy({ label: "apr-expire" }));
  const asked = Date.now() - 15 * 60_000 + 1500;
  const expiring = approvalOf(await pay(key2.token, 70, "apr-expire", { headers: { "keybrake-test-now": String(asked) } }));
  assert.equal(await reserved(key2.id), 70);
  const approved = await decide(expiring, "approve");
  assert.equal(approved.json.status, "approved");
  const gone = await eventually(() => ctx.kb.admin(`/v1/keys/${key2.id}`), (r) => r.json.reserved_today_usd === 0, {
    timeoutMs: 8000,
    what: "the expired approval's hold released",
  });
  assert.equal(gone.json.reserved_today_usd, 0, "the expired approval's hold was released");
  const shown = await ctx.kb.admin(`/v1/approvals/${expiring}`);
  assert.equal(shown.json.status, "expired");
  assert.notEqual(approvalOf(await pay(key2.token, 70, "apr-expire")), expiring, "an expired approval cannot be used");
  assert.equal(received(ctx.stripe, "apr-expire").length, 0);

  // Every step is in the audit log.
  const rows = await eventually(
    () => ctx.kb.admin(`/v1/audit?key_id=${key2.id}&limit=50`),
    (r) => r.json.data.some((e) => e.code === "approval_expired"),
    { what: "an approval_expired audit row" },
  );
  const codes = rows.json.data.map((e) => e.code);
  for (const code of ["approval_required", "approval_approved", "approval_expired"]) assert.ok(codes.includes(code), `${code} in ${codes}`);
  const expiredRow = rows.json.data.find((e) => e.code === "approval_expired");
  assert.equal(expiredRow.decision, "denied");
  assert.equal(expiredRow.path, "/v1/payment_intents");
  const deniedRows = await eventually(
    () => ctx.kb.admin(`/v1/audit?key_id=${key.id}&limit=50`),
    (r) => r.json.data.some((e) => e.code === "approval_denied"),
    { what: "an approval_denied audit row" },
  );
  assert.match(deniedRows.json.data.find((e) => e.code === "approval_denied").message, /denied by admin: not this one/);
});

test("waiting approvals never overcommit the cap, whatever races", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "apr-race", daily_usd_cap: 100, constraints: { approval_above_usd: 10 } }));
  // Ten different $30 requests at once: only three fit under $100.
  const asks = await Promise.all(Array.from({ length: 10 }, (_, i) => pay(key.token, 30, `apr-race-${i}`)));
  const waiting = asks.filter((r) => r.status === 403);
  const refused = asks.filter((r) => r.status === 429);
  assert.equal(waiting.length, 3, asks.map((r) => r.status).join(","));
  assert.equal(refused.length, 7);
  for (const r of refused) assert.equal(r.json.error.code, "cap_exhausted");
  assert.equal(await reserved(key.id), 90);
  // Each approved request goes through on its own hold: still within the cap.
  const ids = waiting.map(approvalOf);
  for (const id of ids) assert.equal((await decide(id, "approve")).status, 200);
  const markers = asks.map((r, i) => [r, `apr-race-${i}`]).filter(([r]) => r.status === 403).map(([, m]) => m);
  const used = await Promise.all(markers.map((m) => pay(key.token, 30, m)));
  assert.deepEqual(used.map((r) => r.status), [200, 200, 200]);
  const state = await ctx.kb.settledKey(key.id);
  assert.equal(state.json.spent_today_usd, 90);
  assert.equal((await pay(key.token, 30, "apr-race-over")).status, 429, "no room left for another ask");
});

test("GET ?wait= returns as soon as the approval is decided; the list filters by status, key and label", async () => {
  const key = await ctx.kb.issueKey(policy({ label: "apr-wait" }));
  const id = approvalOf(await pay(key.token, 55, "apr-wait"));
  const started = Date.now();
  const waiting = ctx.kb.admin(`/v1/approvals/${id}?wait=10`);
  setTimeout(() => decide(id, "approve"), 400);
  const answer = await waiting;
  assert.equal(answer.json.status, "approved");
  assert.ok(Date.now() - started < 5000, "answered once decided, not at the end of the wait");

  const bad = await ctx.kb.admin(`/v1/approvals/${id}?wait=999`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.param, "wait");

  const pending = approvalOf(await pay(key.token, 56, "apr-wait-2"));
  const listed = await eventually(
    () => ctx.kb.admin(`/v1/approvals?status=pending&label_prefix=apr-wait`),
    (r) => r.json.data.some((a) => a.id === pending),
    { what: "the pending approval listed" },
  );
  assert.deepEqual(listed.json.data.map((a) => a.id), [pending]);
  const byKey = await eventually(
    () => ctx.kb.admin(`/v1/approvals?key_id=${key.id}`),
    (r) => r.json.data.length === 2 && r.json.data.some((a) => a.status === "approved"),
    { what: "the key's two approvals listed" },
  );
  assert.deepEqual(byKey.json.data.map((a) => a.status).sort(), ["approved", "pending"]);
  for (const [query, param] of [["status=maybe", "status"], ["colour=red", "colour"]]) {
    const res = await ctx.kb.admin(`/v1/approvals?${query}`);
    assert.equal(res.status, 400);
    assert.equal(res.json.param, param);
  }
  const missing = await ctx.kb.admin(`/v1/approvals/apr_${"0".repeat(24)}_00`);
  assert.equal(missing.status, 404);
  const malformed = await ctx.kb.admin("/v1/approvals/apr_nothing");
  assert.equal(malformed.status, 404);
});

test("issuers: see their own keys' approvals, decide them only with can_approve; thresholds are a ceiling", async () => {
  const make = async (over) => {
    const res = await ctx.kb.admin("/v1/issuers", {
      method: "POST",
      body: { label: "apr-issuer", vendors: ["stripe"], endpoint_ceiling: ["POST /v1/payment_intents"], max_daily_usd_cap: 500, max_live_keys: 5, max_daily_spend_usd: 1000, label_prefix: "apr-iss-", required_constraints: { approval_above_usd: 50 }, ...over },
    });
    assert.equal(res.status, 201, res.text);
    const { token } = res.json;
    return { token, call: (path, method = "GET", body) => ctx.kb.fetch(path, { method, headers: { authorization: `Bearer ${token}` }, body: body && JSON.stringify(body) }) };
  };
  const watcher = await make({});
  const approver = await make({ can_approve: true });

  // The ceiling: keys must ask for approval above $50 at most.
  const loose = await watcher.call("/v1/keys", "POST", policy({ label: "apr-iss-loose", constraints: { approval_above_usd: 80 } }));
  assert.equal(loose.status, 403, loose.text);
  assert.equal(loose.json.param, "required_constraints.approval_above_usd");
  const none = await watcher.call("/v1/keys", "POST", policy({ label: "apr-iss-none", constraints: undefined }));
  assert.equal(none.status, 403, none.text);

  const issue = (as, label) => ctx.kb.issueKey(policy({ label }), { as: as.token });
  const watched = await issue(watcher, "apr-iss-w");
  const mine = await issue(approver, "apr-iss-a");
  const wId = approvalOf(await pay(watched.token, 60, "apr-iss-w"));
  const aId = approvalOf(await pay(mine.token, 60, "apr-iss-a"));

  assert.equal((await watcher.call(`/v1/approvals/${wId}`)).status, 200);
  const cannot = await watcher.call(`/v1/approvals/${wId}/approve`, "POST");
  assert.equal(cannot.status, 403, cannot.text);
  assert.equal(cannot.json.code, "forbidden");
  assert.equal((await ctx.kb.admin(`/v1/approvals/${wId}`)).json.status, "pending", "nothing changed");
  // Another issuer's approval reads as not found, even with can_approve.
  assert.equal((await approver.call(`/v1/approvals/${wId}`)).status, 404);
  assert.equal((await approver.call(`/v1/approvals/${wId}/approve`, "POST")).status, 404);
  const own = await approver.call(`/v1/approvals/${aId}/approve`, "POST", { note: "fine" });
  assert.equal(own.status, 200, own.text);
  assert.match(own.json.decided_by, /^issuer iss_/);
  const listed = await eventually(() => watcher.call("/v1/approvals"), (r) => r.json.data.length >= 1, { what: "the issuer's approvals listed" });
  assert.deepEqual(listed.json.data.map((a) => a.id), [wId], "an issuer lists only its own keys' approvals");
});
