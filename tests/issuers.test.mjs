// Scoped issuer tokens: an agent's Worker holds one instead of the admin
// token and can mint keys only inside its ceilings, see and revoke only its
// own keys, and dies (with its keys) when revoked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake();

const ceilings = (over = {}) => ({
  label: "billing-worker",
  vendors: ["stripe"],
  endpoint_ceiling: ["POST /v1/payment_intents", "/v1/payment_intents/**"],
  max_daily_usd_cap: 200,
  max_ttl: "15m",
  max_live_keys: 3,
  max_daily_spend_usd: 1000,
  label_prefix: "billing-",
  required_constraints: { max_amount_usd: 100 },
  ...over,
});

async function newIssuer(over) {
  const res = await ctx.kb.admin("/v1/issuers", { method: "POST", body: ceilings(over) });
  assert.equal(res.status, 201, res.text);
  assert.match(res.json.token, /^kbi_[0-9a-f]{24}_[0-9a-f]{48}$/);
  return res.json;
}

const as = (token) => ({
  call: (path, { method = "GET", body, headers = {} } = {}) =>
    ctx.kb.fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...headers }, body: body === undefined ? undefined : JSON.stringify(body) }),
});

const key = (over = {}) => ({
  label: "billing-run-1",
  vendor: "stripe",
  allowed_endpoints: ["POST /v1/payment_intents"],
  daily_usd_cap: 50,
  expires_in: "10m",
  constraints: { max_amount_usd: 20 },
  ...over,
});

test("an issuer mints keys only inside its ceilings, and each refusal names the ceiling", async () => {
  const issuer = await newIssuer();
  const me = as(issuer.token);
  const ok = await ctx.kb.issueKey(key(), { as: issuer.token });
  const pay = await ctx.kb.proxy(ok.token, "/stripe/v1/payment_intents", { body: { amount: 1500, currency: "usd" } });
  assert.equal(pay.status, 200, "its key works like any other");

  for (const [over, ceiling] of [
    [{ vendor: "twilio", allowed_endpoints: ["/2010-04-01/**"], constraints: { max_requests: 5 } }, "vendors"],
    [{ label: "other-run" }, "label_prefix"],
    [{ allowed_endpoints: ["/v1/payment_intents"] }, "endpoint_ceiling"],
    [{ allowed_endpoints: ["POST /v1/refunds"] }, "endpoint_ceiling"],
    [{ daily_usd_cap: 201 }, "max_daily_usd_cap"],
    [{ expires_in: "16m" }, "max_ttl"],
    [{ constraints: undefined }, "required_constraints.max_amount_usd"],
    [{ constraints: { max_amount_usd: 150 } }, "required_constraints.max_amount_usd"],
  ]) {
    const res = await me.call("/v1/keys", { method: "POST", body: key(over) });
    assert.equal(res.status, 403, `${ceiling}: ${res.text}`);
    assert.equal(res.json.code, "ceiling_exceeded");
    assert.equal(res.json.param, ceiling);
  }
  // Bad input is still a 400 naming the field, not a ceiling.
  const bad = await me.call("/v1/keys", { method: "POST", body: key({ daily_usd_cap: "lots" }) });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.param, "daily_usd_cap");
});

test("max_live_keys holds under concurrent issuance, and revoking frees a slot", async () => {
  const issuer = await newIssuer({ label_prefix: "burst-", max_live_keys: 3 });
  const me = as(issuer.token);
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => me.call("/v1/keys", { method: "POST", body: key({ label: `burst-${i}` }) })));
  const issued = results.filter((r) => r.status === 201);
  assert.equal(issued.length, 3);
  const refused = results.filter((r) => r.status !== 201).map((r) => [r.status, r.json?.param]);
  assert.deepEqual(refused, Array(7).fill([403, "max_live_keys"]), "the other seven are refused by the ceiling");
  assert.equal((await me.call("/v1/keys", { method: "POST", body: key({ label: "burst-x" }) })).status, 403);
  assert.equal((await me.call(`/v1/keys/${issued[0].json.id}`, { method: "DELETE" })).status, 200);
  await ctx.kb.issueKey(key({ label: "burst-y" }), { as: issuer.token });
  const state = await ctx.kb.admin(`/v1/issuers/${issuer.id}`);
  assert.equal(state.json.live_keys, 3);
});

test("an issuer sees, audits and revokes only its own keys, and cannot manage issuers", async () => {
  const a = await newIssuer({ label: "a", label_prefix: "a-" });
  const b = await newIssuer({ label: "b", label_prefix: "b-" });
  const mine = await ctx.kb.issueKey(key({ label: "a-1" }), { as: a.token });
  const theirs = await ctx.kb.issueKey(key({ label: "b-1" }), { as: b.token });
  const admins = await ctx.kb.issueKey({ label: "a-admin" });
  await ctx.kb.proxy(theirs.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
  await ctx.kb.proxy(mine.token, "/stripe/v1/payment_intents", { body: { amount: 200, currency: "usd" } });
  await ctx.kb.auditUntil({ label_prefix: "a-" }, (r) => r.length === 1);
  await ctx.kb.auditUntil({ label_prefix: "b-" }, (r) => r.length === 1);

  const me = as(a.token);
  const listed = await me.call("/v1/keys?status=active");
  assert.deepEqual(listed.json.data.map((k) => k.id), [mine.id]);
  assert.equal((await me.call(`/v1/keys/${theirs.id}`)).status, 404);
  assert.equal((await me.call(`/v1/keys/${admins.id}`)).status, 404);
  assert.equal((await me.call(`/v1/keys/${theirs.id}`, { method: "DELETE" })).status, 404);
  assert.equal((await ctx.kb.admin(`/v1/keys/${theirs.id}`)).json.status, "active", "untouched");
  const audit = await me.call("/v1/audit");
  assert.deepEqual(audit.json.data.map((r) => r.key_id), [mine.id]);
  const usage = await me.call("/v1/usage?group_by=key");
  assert.deepEqual(usage.json.data.map((r) => r.key_id), [mine.id]);
  const all = await me.call("/v1/keys/revoke-all", { method: "POST", body: {} });
  assert.equal(all.json.revoked, 1);
  assert.equal((await ctx.kb.admin(`/v1/keys/${theirs.id}`)).json.status, "active");
  assert.equal((await ctx.kb.admin(`/v1/keys/${admins.id}`)).json.status, "active");

  for (const [method, path] of [["GET", "/v1/issuers"], ["POST", "/v1/issuers"], ["DELETE", `/v1/issuers/${b.id}`]]) {
    const res = await me.call(path, { method, body: method === "POST" ? ceilings() : undefined });
    assert.equal(res.status, 403, `${method} ${path}`);
    assert.equal(res.json.code, "forbidden");
  }
});

test("revoking an issuer kills its token at once and every key it issued", async () => {
  const issuer = await newIssuer({ label_prefix: "doomed-" });
  const me = as(issuer.token);
  const keys = [];
  for (let i = 0; i < 2; i++) {
    keys.push(await ctx.kb.issueKey(key({ label: `doomed-${i}` }), { as: issuer.token }));
  }
  const revoked = await ctx.kb.admin(`/v1/issuers/${issuer.id}`, { method: "DELETE" });
  assert.equal(revoked.status, 200, revoked.text);
  assert.equal(revoked.json.status, "revoked");
  assert.equal(revoked.json.revoked_keys, 2);
  const refused = await me.call("/v1/keys");
  assert.equal(refused.status, 401);
  assert.match(refused.json.message, /revoked/);
  for (const k of keys) {
    const res = await ctx.kb.proxy(k.token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
    assert.equal(res.status, 401);
    assert.equal(res.json.error.code, "key_revoked");
  }
  assert.equal(received(ctx.stripe, "doomed").length, 0);
  const listed = await ctx.kb.admin("/v1/issuers");
  assert.equal(listed.json.data.find((i) => i.id === issuer.id).status, "revoked");
});

test("issuer tokens: bad ceilings are refused by field; forged and vault-key tokens are refused", async () => {
  for (const [over, param] of [
    [{ vendors: ["paypal"] }, "vendors"],
    [{ endpoint_ceiling: [] }, "endpoint_ceiling"],
    [{ max_daily_usd_cap: 0 }, "max_daily_usd_cap"],
    [{ max_ttl: "2d" }, "max_ttl"],
    [{ max_live_keys: 0 }, "max_live_keys"],
    [{ max_daily_spend_usd: undefined }, "max_daily_spend_usd"],
    [{ max_total_spend_usd: -1 }, "max_total_spend_usd"],
    [{ allowed_accounts: "acct_1" }, "allowed_accounts"],
    [{ required_constraints: { to: ["+1"] } }, "required_constraints.to"],
    [{ colour: "red" }, "colour"],
  ]) {
    const res = await ctx.kb.admin("/v1/issuers", { method: "POST", body: ceilings(over) });
    assert.equal(res.status, 400, JSON.stringify(over));
    assert.equal(res.json.param, param);
  }
  const issuer = await newIssuer({ label_prefix: "forge-" });
  const forged = issuer.token.slice(0, 29) + "0".repeat(40) + issuer.token.slice(69);
  assert.equal((await as(forged).call("/v1/keys")).status, 401);
  const vaultKey = await ctx.kb.issueKey({ label: "not-an-issuer" });
  assert.equal((await as(vaultKey.token).call("/v1/keys")).status, 401);
  assert.equal((await as(ADMIN_TOKEN).call(`/v1/issuers/${issuer.id}`)).json.status, "active");
});

// Issue 12, class 8: what a Worker holding an issuer token tries.
test("an issuer cannot mint keys for accounts outside its allowed_accounts", async () => {
  const none = await newIssuer({ label_prefix: "acct-none-" });
  const denied = await as(none.token).call("/v1/keys", { method: "POST", body: key({ label: "acct-none-1", allowed_accounts: ["acct_victim"] }) });
  assert.equal(denied.status, 403, denied.text);
  assert.equal(denied.json.param, "allowed_accounts");
  const some = await newIssuer({ label_prefix: "acct-some-", allowed_accounts: ["acct_mine"] });
  await ctx.kb.issueKey(key({ label: "acct-some-1", allowed_accounts: ["acct_mine"] }), { as: some.token });
  const other = await as(some.token).call("/v1/keys", { method: "POST", body: key({ label: "acct-some-2", allowed_accounts: ["acct_mine", "acct_victim"] }) });
  assert.equal(other.json.param, "allowed_accounts");
});

test("minting, spending and revoking keys in a loop cannot pass the issuer's daily spend ceiling", async () => {
  const issuer = await newIssuer({ label_prefix: "cycle-", max_live_keys: 1, max_daily_spend_usd: 45 });
  let spent = 0;
  let refused;
  for (let round = 0; round < 6 && !refused; round++) {
    const issued = await ctx.kb.issueKey(key({ label: `cycle-${round}`, daily_usd_cap: 20 }), { as: issuer.token });
    for (let i = 0; i < 2; i++) {
      const pay = await ctx.kb.proxy(issued.token, "/stripe/v1/payment_intents", { body: { amount: 1000, currency: "usd", description: `cycle-${issuer.id}` } });
      if (pay.status === 200) spent += 10;
      else refused ??= pay;
    }
    assert.equal((await as(issuer.token).call(`/v1/keys/${issued.id}`, { method: "DELETE" })).status, 200);
  }
  assert.equal(refused?.status, 429, "the issuer's ceiling stopped the loop");
  assert.equal(refused.json.error.param, "issuer.max_daily_spend_usd");
  assert.equal(spent, 40, "$45 a day allows four $10 payments and not a fifth");
  assert.equal(received(ctx.stripe, `cycle-${issuer.id}`).length, 4);
});

test("concurrent keys of one issuer spend exactly up to its total ceiling", async () => {
  const issuer = await newIssuer({ label_prefix: "total-", max_live_keys: 5, max_daily_spend_usd: 1000, max_total_spend_usd: 30 });
  const keys = [];
  for (let i = 0; i < 5; i++) {
    keys.push(await ctx.kb.issueKey(key({ label: `total-${i}`, daily_usd_cap: 50 }), { as: issuer.token }));
  }
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      ctx.kb.proxy(keys[i % 5].token, "/stripe/v1/payment_intents", { body: { amount: 500, currency: "usd", description: `total-${issuer.id}` } }),
    ),
  );
  const ok = results.filter((r) => r.status === 200).length;
  assert.ok(ok >= 1 && ok <= 6, `${ok} $5 payments passed a $30 total`);
  assert.equal(received(ctx.stripe, `total-${issuer.id}`).length, ok);
  const refused = results.filter((r) => r.status !== 200);
  assert.ok(refused.length >= 14);
  assert.ok(refused.every((r) => r.status === 429 && r.json.error.param === "issuer.max_daily_spend_usd"), JSON.stringify(refused[0]?.json));
});

test("a required rate limit holds in every window, not on average", async () => {
  const issuer = await newIssuer({ label_prefix: "rate-", required_constraints: { max_amount_usd: 100, rate_limit: { requests: 5, per: "minute" } } });
  const hourly = await as(issuer.token).call("/v1/keys", {
    method: "POST",
    body: key({ label: "rate-1", constraints: { max_amount_usd: 100, rate_limit: { requests: 50, per: "hour" } } }),
  });
  assert.equal(hourly.status, 403, "50 an hour can all come in one minute");
  assert.equal(hourly.json.param, "required_constraints.rate_limit");
  const slow = await as(issuer.token).call("/v1/keys", {
    method: "POST",
    body: key({ label: "rate-2", constraints: { max_amount_usd: 100, rate_limit: { requests: 5, per: "hour" } } }),
  });
  assert.equal(slow.status, 201, slow.text);
});
