// Keybrake's MCP endpoint driven by the Python `mcp` package's client
// (tests/python/mcp_client.py, in the .venv scripts/setup-python.sh makes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { received, useKeybrake } from "./support/setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ctx = useKeybrake({}, { port: 0 });

function python(token, scenario) {
  return new Promise((resolve, reject) => {
    execFile(path.join(root, ".venv/bin/python"), [path.join(root, "tests/python/mcp_client.py"), `${ctx.kb.url}/mcp`, token, scenario], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && !stdout) return reject(new Error(`${err.message}\n${stderr}`));
      ctx.kb.seen.push(stdout);
      resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
  });
}

const issue = (label) => ctx.kb.issueKey({ label, allowed_endpoints: ["POST /v1/payment_intents", "GET /v1/payment_intents/*"], daily_usd_cap: 50, expires_in: "10m" });

test("the Python client lists the key's tools, pays through the proxy, and reads the cap refusal", async () => {
  const key = await issue("py-mcp");
  const out = await python(key.token, "pay");
  assert.equal(out.error, undefined, out.error);
  assert.equal(out.server, "keybrake");
  assert.ok(["2025-11-25", "2025-06-18", "2025-03-26"].includes(out.protocol), out.protocol);
  assert.deepEqual(out.tools, ["stripe_create_payment_intent", "stripe_request", "stripe_retrieve_payment_intent"]);
  assert.equal(out.paid.isError, false, out.paid.text);
  assert.equal(out.paid.structured.amount, 2000);
  assert.match(out.paid.text, /Charged \$20\.00; \$30\.00 left today\./);
  const [upstream] = received(ctx.stripe, "cus_py_mcp");
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.stripe.secret}`);
  assert.equal(out.capped.isError, true);
  assert.equal(out.capped.structured.keybrake_error.code, "cap_exhausted");
  assert.match(out.capped.text, /only \$30\.00 of the \$50\.00 daily cap remains/);
  assert.equal(received(ctx.stripe, "cus_py_mcp_over").length, 0);
});

test("the Python client is refused with a revoked or expired key", async () => {
  const revoked = await issue("py-mcp-revoked");
  await ctx.kb.admin(`/v1/keys/${revoked.id}`, { method: "DELETE" });
  const out = await python(revoked.token, "list");
  assert.match(out.error ?? "", /has been revoked/, JSON.stringify(out));
  const short = await ctx.kb.issueKey({ label: "py-mcp-expired", expires_in: "1s" });
  await new Promise((r) => setTimeout(r, 1100));
  const expired = await python(short.token, "list");
  assert.match(expired.error ?? "", /has expired/, JSON.stringify(expired));
});
