// Webhooks: events reach registered endpoints through the queue, signed;
// the client's verifyWebhook checks them; a failed delivery is retried and
// never lost; what never arrives is recorded as dead.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { startFakeServer, sendJson } from "./support/fake-server.mjs";
import { eventually, sleep } from "./support/poll.mjs";
import { useKeybrake } from "./support/setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// The client's verifyWebhook, bundled for Node from its TypeScript source.
const { outputFiles } = await build({
  entryPoints: [path.join(root, "clients/workers/src/index.ts")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  write: false,
});
const client = await import(`data:text/javascript;base64,${Buffer.from(outputFiles[0].text).toString("base64")}`);

// Retries at once (no backoff) so the queue's last retry comes quickly.
const ctx = useKeybrake({ KEYBRAKE_ALLOW_INSECURE_WEBHOOKS: "1", KEYBRAKE_WEBHOOK_RETRY_SECS: "0" });
let receiver;
let failing;
before(async () => {
  receiver = await startFakeServer((record, res) => sendJson(res, 200, { ok: true }));
  failing = await startFakeServer((record, res) => sendJson(res, 503, { down: true }));
});
after(async () => {
  await receiver?.close();
  await failing?.close();
});

async function register(body) {
  const res = await ctx.kb.admin("/v1/webhooks", { method: "POST", body });
  assert.equal(res.status, 201, res.text);
  assert.match(res.json.secret, /^whsec_[0-9a-f]{64}$/);
  return res.json;
}

/** The deliveries of events of `type` whose JSON satisfies `pick`, so far. */
const deliveries = (server, type, pick = () => true) => server.requests.filter((r) => r.json?.type === type && pick(r.json));

/** Those deliveries once `count` have arrived; throws if they do not in time. */
function arrived(server, type, pick = () => true, count = 1, timeoutMs = 10_000) {
  return eventually(
    async () => deliveries(server, type, pick),
    (got) => got.length >= count,
    { timeoutMs, what: `${count} ${type} deliveries` },
  );
}

/** Rebuilds the request the receiver got, for verifyWebhook. */
const asRequest = (r) => new Request("https://receiver.example/hook", { method: "POST", headers: r.headers, body: r.body });

const pay = (token, dollars, marker) =>
  ctx.kb.proxy(token, "/stripe/v1/payment_intents", { body: `amount=${dollars * 100}&currency=usd&description=${marker}`, headers: { "content-type": "application/x-www-form-urlencoded" } });

test("bad registrations name the field; the secret is shown once", async () => {
  for (const [body, param] of [
    [{ events: ["key.revoked"] }, "url"],
    [{ url: "ftp://hooks.example.com/x", events: ["key.revoked"] }, "url"],
    [{ url: "not a url", events: ["key.revoked"] }, "url"],
    [{ url: "https://hooks.example.com/x" }, "events"],
    [{ url: "https://hooks.example.com/x", events: [] }, "events"],
    [{ url: "https://hooks.example.com/x", events: ["key.exploded"] }, "events"],
    [{ url: "https://hooks.example.com/x", events: ["key.revoked"], colour: "red" }, "colour"],
    [{ url: "https://hooks.example.com/x", events: ["key.revoked"], label_prefix: "" }, "label_prefix"],
  ]) {
    const res = await ctx.kb.admin("/v1/webhooks", { method: "POST", body });
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.json.param, param);
  }
  const hook = await register({ url: "https://hooks.example.com/kb", events: ["key.revoked"] });
  const shown = await ctx.kb.admin(`/v1/webhooks/${hook.id}`);
  assert.equal(shown.status, 200);
  assert.equal(shown.json.secret, undefined, "never shown again");
  assert.deepEqual(shown.json.deliveries, []);
  assert.equal((await ctx.kb.admin(`/v1/webhooks/${hook.id}`, { method: "DELETE" })).status, 200);
  const listed = await ctx.kb.admin("/v1/webhooks");
  assert.ok(!listed.json.data.some((h) => h.id === hook.id), "a deleted endpoint is not listed");
});

test("events arrive signed, verify with the client's helper, and reach only the endpoints that asked", async () => {
  const all = await register({ url: `${receiver.url}/all`, events: ["*"], label_prefix: "wh-" });
  const other = await register({ url: `${receiver.url}/other`, events: ["*"], label_prefix: "elsewhere-" });
  const key = await ctx.kb.issueKey({ label: "wh-run", vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 40, expires_in: "10m", constraints: { approval_above_usd: 12 } });

  assert.equal((await pay(key.token, 6, "wh-small")).status, 200);
  assert.equal((await pay(key.token, 6, "wh-small-2")).status, 200);
  assert.equal((await pay(key.token, 8, "wh-half")).status, 200);
  const [half] = await arrived(receiver, "key.spend_threshold", (e) => e.key_id === key.id && e.data.percent === 50);
  assert.ok(half, "50 % of the cap was told");
  assert.equal(half.path, "/all");
  assert.equal(half.json.label, "wh-run");
  assert.equal(half.json.data.daily_usd_cap, 40);
  assert.equal(half.json.data.committed_usd, 20);
  assert.equal(half.headers["keybrake-event-id"], half.json.id);
  assert.equal(half.headers["keybrake-event-type"], "key.spend_threshold");

  // The signature, checked by hand and by the client's verifyWebhook.
  const [, t, v1] = half.headers["keybrake-signature"].match(/^t=(\d+),v1=([0-9a-f]{64})$/);
  assert.equal(crypto.createHmac("sha256", all.secret).update(`${t}.${half.body}`).digest("hex"), v1);
  assert.ok(Math.abs(Date.now() / 1000 - Number(t)) < 60);
  const event = await client.verifyWebhook(asRequest(half), all.secret);
  assert.equal(event.id, half.json.id);
  await assert.rejects(client.verifyWebhook(asRequest(half), other.secret), client.WebhookSignatureError);
  await assert.rejects(client.verifyWebhook(asRequest({ ...half, body: half.body.replace("50", "51") }), all.secret), client.WebhookSignatureError);
  await assert.rejects(client.verifyWebhook(asRequest(half), all.secret, { now: Date.now() + 600_000 }), client.WebhookSignatureError, "an old delivery is refused");
  await assert.rejects(client.verifyWebhook(asRequest({ ...half, headers: { ...half.headers, "keybrake-signature": "t=1" } }), all.secret), client.WebhookSignatureError);

  // Above the threshold: approval.requested, with what a person needs to decide.
  const asked = await pay(key.token, 15, "wh-big");
  assert.equal(asked.status, 403);
  const [req] = await arrived(receiver, "approval.requested", (e) => e.key_id === key.id);
  assert.equal(req.json.data.approval_id, asked.headers.get("keybrake-approval-id"));
  assert.equal(req.json.data.cost_usd, 15);
  assert.equal(req.json.data.request.amount, 1500);
  // Its hold counts: $20 spent and $15 waiting pass 80 % of $40.
  const [eighty] = await arrived(receiver, "key.spend_threshold", (e) => e.key_id === key.id && e.data.percent === 80);
  assert.equal(eighty.json.data.committed_usd, 35);
  await sleep(300);
  assert.equal(deliveries(receiver, "key.spend_threshold", (e) => e.key_id === key.id).length, 2, "50 and 80 once each, no 100 yet");

  await ctx.kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
  const [revoked] = await arrived(receiver, "key.revoked", (e) => e.key_id === key.id);
  assert.ok(revoked.json.data.revoked_at);
  assert.equal(receiver.requests.filter((r) => r.path === "/other").length, 0, "the other endpoint's label prefix matched nothing");
});

test("a refusal burst is told once; budget thresholds and an issuer's revocation are told", async () => {
  await register({ url: `${receiver.url}/bursts`, events: ["key.denied_burst", "issuer.revoked"] });
  const key = await ctx.kb.issueKey({ label: "burst-run", vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 20, expires_in: "10m" });
  for (let i = 0; i < 12; i++) {
    const res = await ctx.kb.proxy(key.token, "/stripe/v1/customers", { body: "email=a%40b.co", headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(res.status, 403);
  }
  const bursts = await arrived(receiver, "key.denied_burst", (e) => e.key_id === key.id);
  assert.equal(bursts.length, 1);
  assert.equal(bursts[0].json.data.denials, 10);
  assert.equal(bursts[0].json.data.last_code, "endpoint_not_allowed");
  await sleep(500);
  assert.equal(deliveries(receiver, "key.denied_burst", (e) => e.key_id === key.id).length, 1, "told once");

  // An account budget's thresholds, measured by what it has leased to keys.
  await register({ url: `${receiver.url}/budgets`, events: ["budget.spend_threshold"], label_prefix: "bud-" });
  const budget = await ctx.kb.admin("/v1/budgets", { method: "POST", body: { vendor: "stripe", label_prefix: "bud-", daily_usd_cap: 10 } });
  assert.equal(budget.status, 200, budget.text);
  const spender = await ctx.kb.issueKey({ label: "bud-run", vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 100, expires_in: "10m" });
  for (let i = 0; i < 5; i++) assert.equal((await pay(spender.token, 2, `bud-${i}`)).status, 200);
  const told = await arrived(receiver, "budget.spend_threshold", (e) => e.data.budget_id === budget.json.id, 3);
  assert.deepEqual(told.map((r) => r.json.data.percent), [50, 80, 100]);
  assert.ok(told.every((r) => r.path === "/budgets"));

  const issuer = await ctx.kb.admin("/v1/issuers", { method: "POST", body: { label: "wh-issuer", vendors: ["stripe"], endpoint_ceiling: ["POST /v1/payment_intents"], max_daily_usd_cap: 10, max_live_keys: 2, max_daily_spend_usd: 100 } });
  await ctx.kb.admin(`/v1/issuers/${issuer.json.id}`, { method: "DELETE" });
  const [revoked] = await arrived(receiver, "issuer.revoked", (e) => e.data.issuer_id === issuer.json.id);
  assert.equal(revoked.json.label, "wh-issuer");
});

test("a failed delivery is retried until it lands, never lost; one that never lands is recorded dead", async () => {
  // The receiver refuses the first two attempts at this endpoint.
  let refusals = 0;
  receiver.respondWith((r) => (r.path === "/flaky" && refusals++ < 2 ? { status: 500, body: { down: true } } : undefined));
  const flaky = await register({ url: `${receiver.url}/flaky`, events: ["key.revoked"], label_prefix: "retry-" });
  const dead = await register({ url: `${failing.url}/dead`, events: ["key.revoked"], label_prefix: "retry-" });
  const key = await ctx.kb.issueKey({ label: "retry-run", vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 20, expires_in: "10m" });
  await ctx.kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });

  const got = await arrived(receiver, "key.revoked", (e) => e.key_id === key.id, 3, 20_000);
  assert.equal(got.length, 3, "two refused attempts, then the one that landed");
  assert.equal(new Set(got.map((r) => r.json.id)).size, 1, "the same event id every time");
  receiver.respondWith(null);

  const deadState = await eventually(async () => (await ctx.kb.admin(`/v1/webhooks/${dead.id}`)).json, (s) => s.deliveries.some((d) => d.status === "dead"), {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: "the delivery that never lands to be recorded dead",
  });
  const flakyState = (await ctx.kb.admin(`/v1/webhooks/${flaky.id}`)).json;
  assert.deepEqual(
    flakyState.deliveries.map((d) => [d.attempt, d.status, d.response_status]).sort(),
    [[1, "failed", 500], [2, "failed", 500], [3, "delivered", 200]],
  );
  const deadRows = deadState.deliveries.filter((d) => d.event_id === got[0].json.id);
  assert.ok(deadRows.some((d) => d.status === "dead"), JSON.stringify(deadState.deliveries));
  // wrangler.toml's max_retries = 8: nine attempts, each refused with the endpoint's 503.
  const failedAttempts = deadRows.filter((d) => d.status === "failed").map((d) => [d.attempt, d.response_status]);
  assert.deepEqual(failedAttempts.sort((x, y) => x[0] - y[0]), Array.from({ length: 9 }, (_, i) => [i + 1, 503]), JSON.stringify(deadState.deliveries));
  assert.equal(failing.requests.length, 9, "retried before giving up, one request per attempt");
  // The endpoint that landed was not sent the event again on the other's retries.
  await sleep(300);
  assert.equal(receiver.requests.filter((r) => r.path === "/flaky").length, 3);
});
