// The management API: issuing, reading, listing and revoking vault keys.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useKeybrake } from "./support/setup.mjs";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";

const ctx = useKeybrake({ KEYBRAKE_MAX_TTL: "1d" });

const briefBody = {
  label: "workers-charge-wf_1",
  vendor: "stripe",
  allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/*"],
  daily_usd_cap: 500,
  expires_in: "5m",
};

async function keyCount() {
  const res = await ctx.kb.admin("/v1/keys?limit=200");
  return res.json.data.length;
}

describe("issuing", () => {
  test("the brief's request, sent without a Content-Type, returns token, id and expiresAt", async () => {
    const before = Date.now();
    const res = await ctx.kb.fetch("/v1/keys", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify(briefBody),
    });
    assert.equal(res.status, 201, res.text);
    const key = res.json;
    assert.match(key.id, /^key_[0-9a-f]{24}$/);
    assert.match(key.token, /^kbk_[0-9a-f]{24}_[0-9a-f]{48}$/);
    assert.equal(key.token.slice(4, 28), key.id.slice(4), "the token carries the key id");
    assert.equal(key.label, briefBody.label);
    assert.equal(key.vendor, "stripe");
    assert.deepEqual(key.allowed_endpoints, briefBody.allowed_endpoints);
    assert.equal(key.daily_usd_cap, 500);
    assert.equal(key.status, "active");
    assert.equal(typeof key.expiresAt, "number");
    assert.ok(key.expiresAt >= before + 300_000 && key.expiresAt <= Date.now() + 300_000);
    assert.equal(new Date(key.expires_at).getTime(), key.expiresAt);
    assert.ok(!Number.isNaN(new Date(key.created_at).getTime()));
    assert.equal(res.headers.get("cache-control"), "no-store");
  });

  test("the token is shown once: reads never return it", async () => {
    const key = await ctx.kb.issueKey({ label: "shown-once" });
    const got = await ctx.kb.admin(`/v1/keys/${key.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.token, undefined);
    assert.ok(!got.text.includes(key.token.slice(29)));
    const list = await ctx.kb.admin("/v1/keys?label_prefix=shown-once");
    assert.ok(!list.text.includes(key.token.slice(29)));
  });

  test("every duration unit is accepted and bounded by KEYBRAKE_MAX_TTL", async () => {
    for (const [text, secs] of [["30s", 30], ["5m", 300], ["2h", 7200], ["1d", 86400]]) {
      const key = await ctx.kb.issueKey({ expires_in: text });
      const lifetime = (key.expiresAt - new Date(key.created_at).getTime()) / 1000;
      assert.equal(lifetime, secs, text);
    }
    const res = await ctx.kb.admin("/v1/keys", { method: "POST", body: { ...briefBody, expires_in: "2d" } });
    assert.equal(res.status, 400);
    assert.equal(res.json.param, "expires_in");
    assert.match(res.json.message, /at most 1d/);
  });

  test("malformed input is refused naming the field, and nothing is written", async () => {
    const count = await keyCount();
    const cases = [
      [{ label: "" }, "label"],
      [{ label: 7 }, "label"],
      [{ vendor: "paypal" }, "vendor"],
      [{ allowed_endpoints: "/v1/payment_intents" }, "allowed_endpoints"],
      [{ allowed_endpoints: [] }, "allowed_endpoints"],
      [{ allowed_endpoints: ["/v1/../customers"] }, "allowed_endpoints"],
      [{ allowed_endpoints: ["/v1/pi_*"] }, "allowed_endpoints"],
      [{ daily_usd_cap: -5 }, "daily_usd_cap"],
      [{ daily_usd_cap: 0 }, "daily_usd_cap"],
      [{ daily_usd_cap: "a lot" }, "daily_usd_cap"],
      [{ daily_usd_cap: 0.0000001 }, "daily_usd_cap"],
      [{ expires_in: "5 minutes" }, "expires_in"],
      [{ expires_in: "0s" }, "expires_in"],
      [{ daily_cap: 5 }, "daily_cap"],
    ];
    for (const [patch, field] of cases) {
      const res = await ctx.kb.admin("/v1/keys", { method: "POST", body: { ...briefBody, ...patch } });
      assert.equal(res.status, 400, `${JSON.stringify(patch)} -> ${res.text}`);
      assert.equal(res.json.code, "bad_request");
      assert.equal(res.json.param, field, res.text);
      assert.ok(res.json.message.includes(field), res.json.message);
    }
    for (const missing of ["label", "vendor", "allowed_endpoints", "daily_usd_cap", "expires_in"]) {
      const body = { ...briefBody };
      delete body[missing];
      const res = await ctx.kb.admin("/v1/keys", { method: "POST", body });
      assert.equal(res.status, 400);
      assert.equal(res.json.param, missing);
    }
    for (const raw of ["", "not json", "[1,2]"]) {
      const res = await ctx.kb.admin("/v1/keys", { method: "POST", body: raw });
      assert.equal(res.status, 400, raw);
      assert.equal(res.json.code, "bad_request");
    }
    assert.equal(await keyCount(), count, "no key was created by bad input");
  });
});

describe("admin authentication", () => {
  test("the management API needs the admin token; a vault key never works there", async () => {
    const key = await ctx.kb.issueKey();
    const attempts = [
      {},
      { authorization: "Bearer wrong-token" },
      { authorization: `Bearer ${key.token}` },
      { authorization: `Basic ${Buffer.from(`${ADMIN_TOKEN}:`).toString("base64")}` },
      { authorization: `Bearer ${ADMIN_TOKEN}x` },
    ];
    for (const headers of attempts) {
      for (const [method, path] of [["GET", "/v1/keys"], ["POST", "/v1/keys"], ["GET", `/v1/keys/${key.id}`], ["DELETE", `/v1/keys/${key.id}`], ["POST", "/v1/keys/revoke-all"], ["GET", "/v1/audit"]]) {
        const res = await ctx.kb.fetch(path, { method, headers, body: method === "POST" ? JSON.stringify(briefBody) : undefined });
        assert.equal(res.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
        assert.equal(res.json.code, "unauthorized");
      }
    }
    const still = await ctx.kb.admin(`/v1/keys/${key.id}`);
    assert.equal(still.json.status, "active", "nothing was revoked by the refused calls");
  });
});

describe("reading and listing", () => {
  test("GET /v1/keys/{id} shows status and today's spend; unknown ids are 404", async () => {
    const key = await ctx.kb.issueKey({ daily_usd_cap: 75.5 });
    const res = await ctx.kb.admin(`/v1/keys/${key.id}`);
    assert.equal(res.status, 200);
    assert.equal(res.json.status, "active");
    assert.equal(res.json.daily_usd_cap, 75.5);
    assert.equal(res.json.spent_today_usd, 0);
    assert.equal(res.json.remaining_today_usd, 75.5);
    for (const id of ["key_000000000000000000000000", "nope", "key_../../x"]) {
      const missing = await ctx.kb.admin(`/v1/keys/${id}`);
      assert.equal(missing.status, 404, id);
      assert.equal(missing.json.code, "not_found");
    }
  });

  test("lists newest first with filters and cursor pagination", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await ctx.kb.issueKey({ label: `page-run-${i}` })).id);
    const seen = [];
    let cursor = null;
    do {
      const qs = new URLSearchParams({ label_prefix: "page-run-", limit: "2", ...(cursor ? { cursor } : {}) });
      const res = await ctx.kb.admin(`/v1/keys?${qs}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.data.length <= 2);
      seen.push(...res.json.data.map((k) => k.id));
      cursor = res.json.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [...ids].reverse());

    await ctx.kb.admin(`/v1/keys/${ids[0]}`, { method: "DELETE" });
    const revoked = await ctx.kb.admin("/v1/keys?label_prefix=page-run-&status=revoked");
    assert.deepEqual(revoked.json.data.map((k) => k.id), [ids[0]]);
    const active = await ctx.kb.admin("/v1/keys?label_prefix=page-run-&status=active&vendor=stripe");
    assert.equal(active.json.data.length, 4);
    const wildcard = await ctx.kb.admin(`/v1/keys?label_prefix=${encodeURIComponent("page%")}`);
    assert.equal(wildcard.json.data.length, 0, "a prefix is literal, not a LIKE pattern");

    for (const bad of ["status=dead", "limit=0", "limit=abc", "cursor=zzz", "colour=red"]) {
      const res = await ctx.kb.admin(`/v1/keys?${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(res.json.param, bad.split("=")[0]);
    }
  });
});

describe("revoking", () => {
  test("DELETE revokes at once and is idempotent", async () => {
    const key = await ctx.kb.issueKey();
    const first = await ctx.kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
    assert.equal(first.status, 200);
    assert.equal(first.json.status, "revoked");
    const again = await ctx.kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
    assert.equal(again.status, 200);
    assert.equal(again.json.revoked_at, first.json.revoked_at, "the first revocation time stands");
    const got = await ctx.kb.admin(`/v1/keys/${key.id}`);
    assert.equal(got.json.status, "revoked");
    const missing = await ctx.kb.admin("/v1/keys/key_111111111111111111111111", { method: "DELETE" });
    assert.equal(missing.status, 404);
  });

  test("revoke-all honours its filter and counts what it killed", async () => {
    const a1 = await ctx.kb.issueKey({ label: "sweep-a-1" });
    const a2 = await ctx.kb.issueKey({ label: "sweep-a-2" });
    const b = await ctx.kb.issueKey({ label: "sweep-b-1" });
    const bad = await ctx.kb.admin("/v1/keys/revoke-all", { method: "POST", body: { label: "x" } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.param, "label");
    const badVendor = await ctx.kb.admin("/v1/keys/revoke-all", { method: "POST", body: { vendor: "paypal" } });
    assert.equal(badVendor.status, 400);
    assert.equal(badVendor.json.param, "vendor");

    const res = await ctx.kb.admin("/v1/keys/revoke-all", { method: "POST", body: { label_prefix: "sweep-a-" } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { revoked: 2 });
    for (const k of [a1, a2]) assert.equal((await ctx.kb.admin(`/v1/keys/${k.id}`)).json.status, "revoked");
    assert.equal((await ctx.kb.admin(`/v1/keys/${b.id}`)).json.status, "active");

    const all = await ctx.kb.admin("/v1/keys/revoke-all", { method: "POST" });
    assert.equal(all.status, 200);
    assert.ok(all.json.revoked >= 1);
    assert.equal((await ctx.kb.admin(`/v1/keys/${b.id}`)).json.status, "revoked");
    const none = await ctx.kb.admin("/v1/keys?status=active");
    assert.equal(none.json.data.length, 0, "no key is left active");
    const nothingLeft = await ctx.kb.admin("/v1/keys/revoke-all", { method: "POST", body: {} });
    assert.deepEqual(nothingLeft.json, { revoked: 0 });
  });
});

test("unknown routes and methods are refused in Keybrake's shape", async () => {
  const notFound = await ctx.kb.admin("/v1/nothing");
  assert.equal(notFound.status, 404);
  assert.equal(notFound.json.code, "not_found");
  const method = await ctx.kb.admin("/v1/keys", { method: "PUT" });
  assert.equal(method.status, 405);
  assert.equal(method.json.code, "method_not_allowed");
});
