// tests/fixtures/sdk-write-endpoints.json lists exactly the write endpoints the installed stripe
// and resend packages can call; a stale fixture means an SDK upgrade the catalogue has not seen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FIXTURE, checkFixture, sdkWriteEndpoints } from "../scripts/sdk-endpoints.mjs";

const current = sdkWriteEndpoints();
const has = (sdk, method, path) => current[sdk].endpoints.some((e) => e.method === method && e.path === path);

test("the committed fixture is what the installed SDKs define", () => {
  const result = checkFixture();
  assert.equal(result.ok, true, result.summary);
  assert.deepEqual(JSON.parse(readFileSync(FIXTURE, "utf8")), current);
});

// Not POST /v1/charges/{id}/refunds: the API still has it, but stripe-node stopped calling it
// (refunds go through /v1/refunds), so the SDKs are a floor for the catalogue, not the whole API.
test("well-known write endpoints are found", () => {
  for (const path of ["/v1/payment_intents", "/v1/refunds", "/v1/charges/{id}/capture", "/v1/webhook_endpoints"]) {
    assert.ok(has("stripe", "POST", path), `stripe POST ${path}`);
  }
  for (const path of ["/emails", "/emails/batch", "/api-keys"]) {
    assert.ok(has("resend", "POST", path), `resend POST ${path}`);
  }
});

test("each list is plausible: big enough, writes only, sorted, no duplicates", () => {
  assert.ok(current.stripe.endpoints.length > 300, `stripe: ${current.stripe.endpoints.length}`);
  assert.ok(current.resend.endpoints.length > 40, `resend: ${current.resend.endpoints.length}`);
  for (const { endpoints } of Object.values(current)) {
    const keys = endpoints.map((e) => `${e.path} ${e.method}`);
    assert.deepEqual(keys, [...new Set(keys)].sort());
    for (const e of endpoints) {
      assert.deepEqual(Object.keys(e), ["method", "path"]);
      assert.match(e.method, /^(POST|PUT|PATCH|DELETE)$/);
      assert.match(e.path, /^(\/([\w.-]+|\{id\}))+$/, "literal segments or {id}, nothing left interpolated");
    }
  }
});
