// docs/openapi.json is a valid OpenAPI 3.1 description, the Worker serves it,
// and every documented status of the management API is what the Worker
// answers, with a body of the documented shape.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { useKeybrake } from "./support/setup.mjs";

const spec = JSON.parse(readFileSync(new URL("../docs/openapi.json", import.meta.url), "utf8"));
const ctx = useKeybrake();

test("the description is valid OpenAPI 3.1", async () => {
  assert.equal(spec.openapi, "3.1.0");
  const result = await new Validator().validate(structuredClone(spec));
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
});

test("Keybrake serves it at GET /v1/openapi.json (a static asset the build copies), without the admin token", async () => {
  const res = await ctx.kb.fetch("/v1/openapi.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /application\/json/);
  assert.deepEqual(res.json, spec);
});

/** The operation a concrete path matches, and its template. */
function operationOf(method, pathname) {
  for (const [template, item] of Object.entries(spec.paths)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    if (re.test(pathname) && item[method.toLowerCase()]) return { template, op: item[method.toLowerCase()] };
  }
  return undefined;
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const resolve = (obj) => (obj?.$ref ? obj.$ref.split("/").slice(1).reduce((o, k) => o[k], spec) : obj);

test("every documented management status is answered, in the documented shape", async () => {
  const kb = ctx.kb;
  const newKey = { label: "openapi", vendor: "stripe", allowed_endpoints: ["/v1/payment_intents"], daily_usd_cap: 5, expires_in: "5m" };
  const issued = await kb.admin("/v1/keys", { method: "POST", body: newKey, headers: { "idempotency-key": "openapi-1" } });
  const missing = `/v1/keys/key_${"0".repeat(24)}`;
  const newIssuer = { label: "openapi-issuer", vendors: ["stripe"], endpoint_ceiling: ["POST /v1/payment_intents"], max_daily_usd_cap: 10, max_live_keys: 2, max_daily_spend_usd: 100 };
  const issuer = await kb.admin("/v1/issuers", { method: "POST", body: newIssuer });
  const asIssuer = { authorization: `Bearer ${issuer.json.token}` };
  const missingIssuer = `/v1/issuers/iss_${"0".repeat(24)}`;
  const gated = await kb.admin("/v1/keys", { method: "POST", body: { ...newKey, label: "openapi-gated", constraints: { approval_above_usd: 1 } } });
  const ask = (token, n) => kb.proxy(token, "/stripe/v1/payment_intents", { body: `amount=${200 + n}&currency=usd`, headers: { "content-type": "application/x-www-form-urlencoded" } });
  const approvalId = (await ask(gated.json.token, 0)).headers.get("keybrake-approval-id");
  const deniedId = (await ask(gated.json.token, 1)).headers.get("keybrake-approval-id");
  const ownKey = await kb.fetch("/v1/keys", { method: "POST", headers: asIssuer, body: JSON.stringify({ ...newKey, allowed_endpoints: ["POST /v1/payment_intents"] }) });
  const ownGated = await kb.fetch("/v1/keys", { method: "POST", headers: asIssuer, body: JSON.stringify({ ...newKey, label: "openapi-own-gated", allowed_endpoints: ["POST /v1/payment_intents"], constraints: { approval_above_usd: 1 } }) });
  const ownApproval = (await ask(ownGated.json.token, 2)).headers.get("keybrake-approval-id");
  const hookId = (await kb.admin("/v1/webhooks", { method: "POST", body: { url: "https://hooks.example.com/openapi-target", events: ["*"] } })).json.id;
  const budgetId = (await kb.admin("/v1/budgets", { method: "POST", body: { vendor: "resend", daily_usd_cap: 5 } })).json.id;
  const calls = [
    ["POST", "/v1/keys", { body: newKey }],
    ["POST", "/v1/keys", { body: newKey, headers: { "idempotency-key": "openapi-1" } }],
    ["POST", "/v1/keys", { body: { ...newKey, daily_usd_cap: 6 }, headers: { "idempotency-key": "openapi-1" } }],
    ["POST", "/v1/keys", { body: { ...newKey, daily_usd_cap: "lots" } }],
    ["POST", "/v1/keys", { body: newKey, anonymous: true }],
    ["GET", "/v1/keys?label_prefix=openapi"],
    ["GET", "/v1/keys?status=bogus"],
    ["GET", "/v1/keys", { anonymous: true }],
    ["GET", `/v1/keys/${issued.json.id}`],
    ["GET", missing],
    ["GET", `/v1/keys/${issued.json.id}`, { anonymous: true }],
    ["PATCH", `/v1/keys/${issued.json.id}`, { body: { daily_usd_cap: 7 } }],
    ["PATCH", `/v1/keys/${issued.json.id}`, { body: { label: "renamed" } }],
    ["PATCH", missing, { body: { daily_usd_cap: 7 } }],
    ["PATCH", `/v1/keys/${issued.json.id}`, { body: { daily_usd_cap: 7 }, anonymous: true }],
    ["PATCH", `/v1/keys/${ownKey.json.id}`, { body: { daily_usd_cap: 11 }, headers: asIssuer, anonymous: true }],
    ["POST", `/v1/keys/${issued.json.id}/pause`],
    ["POST", `/v1/keys/${issued.json.id}/resume`],
    ["POST", `${missing}/pause`],
    ["POST", `${missing}/resume`],
    ["POST", `/v1/keys/${issued.json.id}/pause`, { anonymous: true }],
    ["POST", `/v1/keys/${issued.json.id}/resume`, { anonymous: true }],
    ["DELETE", `/v1/keys/${issued.json.id}`],
    ["POST", `/v1/keys/${issued.json.id}/pause`],
    ["POST", `/v1/keys/${issued.json.id}/resume`],
    ["DELETE", missing],
    ["DELETE", `/v1/keys/${issued.json.id}`, { anonymous: true }],
    ["POST", "/v1/keys/revoke-all", { body: { label_prefix: "openapi" } }],
    ["POST", "/v1/keys/revoke-all", { body: { colour: "red" } }],
    ["POST", "/v1/keys/revoke-all", { body: {}, anonymous: true }],
    ["GET", "/v1/approvals?status=pending"],
    ["GET", "/v1/approvals?status=maybe"],
    ["GET", "/v1/approvals", { anonymous: true }],
    ["GET", `/v1/approvals/${approvalId}?wait=0`],
    ["GET", `/v1/approvals/${approvalId}?wait=61`],
    ["GET", `/v1/approvals/${approvalId}`, { anonymous: true }],
    ["GET", `/v1/approvals/apr_${"0".repeat(24)}_00`],
    ["POST", `/v1/approvals/${approvalId}/approve`, { body: { note: "x".repeat(501) } }],
    ["POST", `/v1/approvals/${approvalId}/approve`, { anonymous: true }],
    ["POST", `/v1/approvals/${ownApproval}/approve`, { headers: asIssuer, anonymous: true }],
    ["POST", `/v1/approvals/apr_${"0".repeat(24)}_00/approve`],
    ["POST", `/v1/approvals/${approvalId}/approve`, { body: { note: "fine" } }],
    ["POST", `/v1/approvals/${approvalId}/approve`],
    ["POST", `/v1/approvals/${deniedId}/deny`, { body: { colour: "red" } }],
    ["POST", `/v1/approvals/${deniedId}/deny`, { anonymous: true }],
    ["POST", `/v1/approvals/${ownApproval}/deny`, { headers: asIssuer, anonymous: true }],
    ["POST", `/v1/approvals/apr_${"0".repeat(24)}_00/deny`],
    ["POST", `/v1/approvals/${deniedId}/deny`],
    ["POST", `/v1/approvals/${deniedId}/deny`],
    ["GET", "/v1/audit?limit=5"],
    ["GET", "/v1/audit?decision=maybe"],
    ["GET", "/v1/audit", { anonymous: true }],
    ["GET", "/v1/usage?group_by=label"],
    ["GET", "/v1/usage?group_by=month"],
    ["GET", "/v1/usage", { anonymous: true }],
    ["POST", "/v1/keys", { body: { ...newKey, daily_usd_cap: 11 }, headers: asIssuer, anonymous: true }],
    ["POST", "/v1/webhooks", { body: { url: "https://hooks.example.com/openapi", events: ["key.revoked"] } }],
    ["POST", "/v1/webhooks", { body: { url: "http://127.0.0.1/hook", events: ["key.revoked"] } }],
    ["POST", "/v1/webhooks", { body: { url: "https://hooks.example.com/x", events: ["*"] }, anonymous: true }],
    ["POST", "/v1/webhooks", { body: { url: "https://hooks.example.com/x", events: ["*"] }, headers: asIssuer, anonymous: true }],
    ["GET", "/v1/webhooks"],
    ["GET", "/v1/webhooks", { anonymous: true }],
    ["GET", "/v1/webhooks", { headers: asIssuer, anonymous: true }],
    ["GET", `/v1/webhooks/${hookId}`],
    ["GET", `/v1/webhooks/wh_${"0".repeat(24)}`],
    ["GET", `/v1/webhooks/${hookId}`, { anonymous: true }],
    ["GET", `/v1/webhooks/${hookId}`, { headers: asIssuer, anonymous: true }],
    ["DELETE", `/v1/webhooks/${hookId}`, { anonymous: true }],
    ["DELETE", `/v1/webhooks/${hookId}`, { headers: asIssuer, anonymous: true }],
    ["DELETE", `/v1/webhooks/${hookId}`],
    ["DELETE", `/v1/webhooks/wh_${"0".repeat(24)}`],
    ["POST", "/v1/budgets", { body: { vendor: "stripe", label_prefix: "openapi", daily_usd_cap: 100 } }],
    ["POST", "/v1/budgets", { body: { vendor: "stripe", daily_usd_cap: 0 } }],
    ["POST", "/v1/budgets", { body: { vendor: "stripe", daily_usd_cap: 1 }, anonymous: true }],
    ["POST", "/v1/budgets", { body: { vendor: "stripe", daily_usd_cap: 1 }, headers: asIssuer, anonymous: true }],
    ["GET", "/v1/budgets"],
    ["GET", "/v1/budgets", { anonymous: true }],
    ["GET", `/v1/budgets/${budgetId}`],
    ["GET", `/v1/budgets/bud_${"0".repeat(24)}`],
    ["DELETE", `/v1/budgets/${budgetId}`],
    ["DELETE", `/v1/budgets/bud_${"0".repeat(24)}`],
    ["GET", "/v1/budgets", { headers: asIssuer, anonymous: true }],
    ["GET", `/v1/budgets/${budgetId}`, { anonymous: true }],
    ["GET", `/v1/budgets/${budgetId}`, { headers: asIssuer, anonymous: true }],
    ["DELETE", `/v1/budgets/${budgetId}`, { anonymous: true }],
    ["DELETE", `/v1/budgets/${budgetId}`, { headers: asIssuer, anonymous: true }],
    ["GET", `/v1/issuers/${issuer.json.id}`, { headers: asIssuer, anonymous: true }],
    ["DELETE", `/v1/issuers/${issuer.json.id}`, { anonymous: true }],
    ["DELETE", `/v1/issuers/${issuer.json.id}`, { headers: asIssuer, anonymous: true }],
    ["POST", "/v1/issuers", { body: newIssuer }],
    ["POST", "/v1/issuers", { body: { ...newIssuer, max_live_keys: 0 } }],
    ["POST", "/v1/issuers", { body: newIssuer, anonymous: true }],
    ["POST", "/v1/issuers", { body: newIssuer, headers: asIssuer, anonymous: true }],
    ["GET", "/v1/issuers"],
    ["GET", "/v1/issuers", { anonymous: true }],
    ["GET", "/v1/issuers", { headers: asIssuer, anonymous: true }],
    ["GET", `/v1/issuers/${issuer.json.id}`],
    ["GET", missingIssuer],
    ["GET", `/v1/issuers/${issuer.json.id}`, { anonymous: true }],
    ["DELETE", `/v1/issuers/${issuer.json.id}`],
    ["DELETE", missingIssuer],
    ["GET", "/healthz", { anonymous: true }],
    ["GET", "/v1/openapi.json", { anonymous: true }],
  ];
  const seen = new Set();
  for (const [method, pathname, { body, headers = {}, anonymous = false } = {}] of calls) {
    const res = anonymous
      ? await kb.fetch(pathname, { method, headers, body: body && JSON.stringify(body) })
      : await kb.admin(pathname, { method, headers, body });
    const found = operationOf(method, new URL(pathname, "http://x").pathname);
    assert.ok(found, `${method} ${pathname} is documented`);
    const documented = found.op.responses[String(res.status)];
    assert.ok(documented, `${method} ${pathname} answered ${res.status}, which is not documented: ${res.text}`);
    seen.add(`${method} ${found.template} ${res.status}`);
    const schema = resolve(documented).content?.["application/json"]?.schema;
    if (schema) {
      assert.match(res.headers.get("content-type"), /application\/json/);
      const validate = ajv.compile({ ...schema, components: spec.components });
      assert.ok(validate(res.json), `${method} ${pathname} ${res.status}: ${ajv.errorsText(validate.errors)}\n${res.text}`);
    }
  }
  const documented = Object.entries(spec.paths)
    .filter(([template]) => template.startsWith("/v1/") || template === "/healthz")
    .flatMap(([template, item]) =>
      Object.entries(item)
        .filter(([m]) => m !== "parameters")
        .flatMap(([m, op]) => Object.keys(op.responses).map((s) => `${m.toUpperCase()} ${template} ${s}`)),
    );
  // A broken configuration needs a Keybrake of its own: tests/catalogue.test.mjs produces it.
  const elsewhere = new Set(["GET /healthz 503"]);
  assert.deepEqual(documented.filter((d) => !seen.has(d) && !elsewhere.has(d)), [], "every documented status was produced");
});
