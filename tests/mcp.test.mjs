// Keybrake as an MCP server, driven by the official TypeScript SDK's
// Client over Streamable HTTP: tools limited to what the key allows, calls
// through the very proxy pipeline (real secret upstream, caps, audit marked
// "mcp"), refusals as tool errors a model can read, dead keys refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { received, useKeybrake } from "./support/setup.mjs";

const ctx = useKeybrake({}, { port: 0 });

async function connect(token) {
  const client = new Client({ name: "keybrake-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${ctx.kb.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

const issue = (over = {}) =>
  ctx.kb.issueKey({ label: "mcp-run", allowed_endpoints: ["POST /v1/payment_intents", "GET /v1/payment_intents/*"], daily_usd_cap: 50, expires_in: "10m", ...over });

const texts = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

test("tools/list names only the tools the key's allowlist admits, with their cost and the budget left", async () => {
  const key = await issue({ label: "mcp-list" });
  const client = await connect(key.token);
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ["stripe_create_payment_intent", "stripe_request", "stripe_retrieve_payment_intent"]);
  const create = tools.find((t) => t.name === "stripe_create_payment_intent");
  assert.equal(create.inputSchema.type, "object");
  assert.deepEqual(create.inputSchema.required, ["amount", "currency"]);
  assert.match(create.description, /Cost: the payment's amount, in USD\. This key has \$50\.00 of its \$50\.00 daily cap left today\./);
  assert.equal(tools.find((t) => t.name === "stripe_retrieve_payment_intent").annotations.readOnlyHint, true);
  const info = client.getServerVersion();
  assert.equal(info.name, "keybrake");
  const resource = await client.readResource({ uri: "keybrake://key" });
  const state = JSON.parse(resource.contents[0].text);
  assert.equal(state.id, key.id);
  assert.equal(state.remaining_today_usd, 50);
  await client.close();
});

test("a tool call runs the proxy: the vendor gets the real secret, the answer comes back structured, the cap holds", async () => {
  const key = await issue({ label: "mcp-pay" });
  const client = await connect(key.token);
  const paid = await client.callTool({ name: "stripe_create_payment_intent", arguments: { amount: 2000, currency: "usd", customer: "cus_mcp_1" } });
  assert.equal(paid.isError, false, texts(paid));
  assert.equal(paid.structuredContent.object, "payment_intent");
  assert.equal(paid.structuredContent.amount, 2000);
  assert.match(texts(paid), /Charged \$20\.00; \$30\.00 left today\./);
  const [upstream] = received(ctx.stripe, "cus_mcp_1");
  assert.equal(upstream.headers.authorization, `Bearer ${ctx.stripe.secret}`);
  assert.deepEqual(upstream.form, { amount: "2000", currency: "usd", customer: "cus_mcp_1" });

  const read = await client.callTool({ name: "stripe_retrieve_payment_intent", arguments: { id: paid.structuredContent.id } });
  assert.equal(read.isError, false, texts(read));

  // Over the cap: a tool error that says what is left, and nothing forwarded.
  const capped = await client.callTool({ name: "stripe_create_payment_intent", arguments: { amount: 4000, currency: "usd", customer: "cus_mcp_2" } });
  assert.equal(capped.isError, true);
  assert.match(texts(capped), /cap_exhausted.*\$40\.00 but only \$30\.00 of the \$50\.00 daily cap remains/);
  assert.equal(capped.structuredContent.keybrake_error.code, "cap_exhausted");
  assert.equal(received(ctx.stripe, "cus_mcp_2").length, 0);

  // The generic tool is held to the same allowlist and catalogue.
  const refund = await client.callTool({ name: "stripe_request", arguments: { method: "POST", path: "/v1/refunds", params: { payment_intent: paid.structuredContent.id } } });
  assert.equal(refund.isError, true);
  assert.equal(refund.structuredContent.keybrake_error.code, "endpoint_not_allowed");
  const secret = await client.callTool({ name: "stripe_request", arguments: { method: "POST", path: "/v1/webhook_endpoints", params: { url: "https://x.example" } } });
  assert.equal(secret.isError, true);

  // Arguments cannot move the call elsewhere.
  const moved = await client.callTool({ name: "stripe_retrieve_payment_intent", arguments: { id: "../../v1/customers" } });
  assert.equal(moved.isError, true);
  assert.match(texts(moved), /invalid arguments/);
  // A tool the key does not have is a protocol error.
  await assert.rejects(client.callTool({ name: "stripe_create_refund", arguments: { payment_intent: "pi_1" } }), /no tool "stripe_create_refund"/);

  const rows = await ctx.kb.auditUntil({ key_id: key.id }, (r) => r.length >= 5);
  assert.ok(rows.length >= 5);
  assert.ok(rows.every((r) => r.via === "mcp"), JSON.stringify(rows.map((r) => [r.code, r.via])));
  const state = await ctx.kb.settledKey(key.id);
  assert.equal(state.json.spent_today_usd, 20);
  await client.close();
});

test("Twilio and Resend tools: the key's account, the vendor's body shape, priced as over HTTP", async () => {
  const sms = await ctx.kb.issueKey({ label: "mcp-sms", vendor: "twilio", allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"], daily_usd_cap: 1, expires_in: "10m" });
  const client = await connect(sms.token);
  assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ["twilio_request", "twilio_send_message"]);
  const sent = await client.callTool({ name: "twilio_send_message", arguments: { To: "+15551230001", From: "+15550009999", Body: "hello-from-mcp" } });
  assert.equal(sent.isError, false, texts(sent));
  const [upstream] = received(ctx.twilio, "hello-from-mcp");
  assert.equal(upstream.path, `/2010-04-01/Accounts/${ctx.twilio.accountSid}/Messages.json`, "the real account, from the key");
  assert.equal(upstream.form.To, "+15551230001");
  await client.close();

  const mail = await ctx.kb.issueKey({ label: "mcp-mail", vendor: "resend", allowed_endpoints: ["POST /emails", "POST /emails/batch"], daily_usd_cap: 1, expires_in: "10m", constraints: { to_domains: ["example.com"] } });
  const mailer = await connect(mail.token);
  const ok = await mailer.callTool({ name: "resend_send_email", arguments: { from: "agent@example.com", to: ["a@example.com"], subject: "mcp mail", text: "hi" } });
  assert.equal(ok.isError, false, texts(ok));
  assert.equal(received(ctx.resend, "mcp mail").length, 1);
  const batch = await mailer.callTool({ name: "resend_send_batch", arguments: { emails: [{ from: "agent@example.com", to: ["b@example.com"], subject: "mcp batch", text: "hi" }] } });
  assert.equal(batch.isError, false, texts(batch));
  const outside = await mailer.callTool({ name: "resend_send_email", arguments: { from: "agent@example.com", to: ["x@elsewhere.net"], subject: "mcp outside", text: "hi" } });
  assert.equal(outside.isError, true);
  assert.equal(outside.structuredContent.keybrake_error.code, "constraint_violated");
  assert.equal(received(ctx.resend, "mcp outside").length, 0);
  await mailer.close();
});

test("a call above the approval threshold is a tool error naming the approval", async () => {
  const key = await issue({ label: "mcp-approval", daily_usd_cap: 500, constraints: { approval_above_usd: 100 } });
  const client = await connect(key.token);
  const asked = await client.callTool({ name: "stripe_create_payment_intent", arguments: { amount: 25_000, currency: "usd", customer: "cus_mcp_big" } });
  assert.equal(asked.isError, true);
  assert.equal(asked.structuredContent.keybrake_error.code, "approval_required");
  assert.match(asked.structuredContent.keybrake_error.approval_id, /^apr_/);
  assert.match(texts(asked), /repeat the same request once it is approved/);
  assert.equal(received(ctx.stripe, "cus_mcp_big").length, 0);
  await client.close();
});

test("revoked, expired and forged keys are refused at connect", async () => {
  const revoked = await issue({ label: "mcp-revoked" });
  await ctx.kb.admin(`/v1/keys/${revoked.id}`, { method: "DELETE" });
  await assert.rejects(connect(revoked.token), /has been revoked/);
  const short = await issue({ label: "mcp-expired", expires_in: "1s" });
  await new Promise((r) => setTimeout(r, 1100));
  await assert.rejects(connect(short.token), /has expired/);
  const live = await issue({ label: "mcp-forged" });
  const forged = live.token.slice(0, 29) + "0".repeat(40) + live.token.slice(69);
  await assert.rejects(connect(forged), /vault key/, "a token whose checksum fails is not a key");
  // A well-formed token for a real key id, with another secret.
  const body = live.token.slice(0, 29) + "1".repeat(40);
  const wellFormed = body + createHash("sha256").update(body).digest("hex").slice(0, 8);
  await assert.rejects(connect(wellFormed), /not valid/);
  await assert.rejects(connect("not-a-key"), /vault key/);
});

test("malformed JSON-RPC gets a JSON-RPC error and changes nothing; GET and DELETE are not offered", async () => {
  const key = await issue({ label: "mcp-raw" });
  const before = ctx.stripe.requests.length;
  const pay = '"method":"tools/call","params":{"name":"stripe_create_payment_intent","arguments":{"amount":100,"currency":"usd","customer":"cus_mcp_raw"}}';
  const post = (body) =>
    fetch(`${ctx.kb.url}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body,
    });
  for (const [body, code] of [
    ["{", -32700],
    ['[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]', -32600],
    ['{"jsonrpc":"2.0","id":1}', -32600],
    ['{"jsonrpc":"2.0","id":2,"method":"tools/call","params":[1]}', -32602],
    // A payment that would go through, were the message well formed.
    [`{"jsonrpc":"1.0","id":4,${pay}}`, -32600],
    [`[{"jsonrpc":"2.0","id":5,${pay}}]`, -32600],
    [`{"jsonrpc":"2.0","id":{"x":1},${pay}}`, -32600],
  ]) {
    const res = await post(body);
    assert.equal(res.status, 400, body);
    assert.equal((await res.json()).error.code, code, body);
  }
  const unknown = await post('{"jsonrpc":"2.0","id":3,"method":"tools/destroy"}');
  const json = await unknown.json();
  assert.equal(json.id, 3);
  assert.equal(json.error.code, -32601);
  const note = await post('{"jsonrpc":"2.0","method":"notifications/initialized"}');
  assert.equal(note.status, 202);
  for (const method of ["GET", "DELETE"]) {
    const res = await fetch(`${ctx.kb.url}/mcp`, { method, headers: { authorization: `Bearer ${key.token}` } });
    assert.equal(res.status, 405, method);
  }
  // On the proxy's host-style hosts too.
  const byHost = await ctx.kb.mf.dispatchFetch("http://stripe.keybrake.test/mcp", {
    method: "POST",
    headers: { authorization: `Bearer ${key.token}`, "content-type": "application/json" },
    body: '{"jsonrpc":"2.0","id":9,"method":"ping"}',
  });
  assert.deepEqual(await byHost.json(), { jsonrpc: "2.0", id: 9, result: {} });
  const audit = await ctx.kb.admin(`/v1/audit?key_id=${key.id}`);
  assert.equal(audit.json.data.length, 0, "nothing was called");
  assert.equal(received(ctx.stripe, "cus_mcp_raw").length, 0);
  assert.equal(ctx.stripe.requests.length, before, "nothing reached Stripe");
});
