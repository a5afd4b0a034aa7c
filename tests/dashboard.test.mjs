// The dashboard in a real browser (Debian's Chromium, driven by
// playwright-core) against the Worker serving it: sign-in, keys with their
// spend, revoking one key and all matching keys, the audit log, the spend
// chart and usage table, a key's details, issuers, budgets, hostile labels
// shown as text, and the security headers.
// KEYBRAKE_SCREENSHOTS=1 saves the screenshots to docs/screenshots/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
import { eventually } from "./support/poll.mjs";
import { useKeybrake } from "./support/setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const shots = process.env.KEYBRAKE_SCREENSHOTS ? path.join(root, "docs/screenshots") : mkdtempSync(path.join(os.tmpdir(), "kb-shots-"));
mkdirSync(shots, { recursive: true });

const ctx = useKeybrake({}, { port: 0 });
let browser;
let page;
const dialogs = [];
const foreignRequests = [];
const consoleErrors = [];
const XSS = `<img src=x onerror=alert(1)>`;

before(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(ctx.kb.url) && !r.url().startsWith("data:")) foreignRequests.push(r.url());
  });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
});

after(async () => {
  await browser?.close();
});

const nav = (name) => page.getByRole("navigation", { name: "Views" }).getByRole("link", { name, exact: true });
const call = (token, amount) => ctx.kb.proxy(token, "/stripe/v1/payment_intents", { body: { amount, currency: "usd" } });

async function signIn() {
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Views" }).waitFor();
}

test("the page carries a strict CSP and refuses to be framed", async () => {
  const res = await page.goto(`${ctx.kb.url}/`);
  assert.equal(res.status(), 200);
  const csp = res.headers()["content-security-policy"];
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, "no inline or remote script");
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers()["x-frame-options"], "DENY");
  assert.equal(res.headers()["x-content-type-options"], "nosniff");
  const script = await page.request.get(`${ctx.kb.url}/app.js`);
  assert.match(script.headers()["content-security-policy"], /default-src 'none'/);
});

test("sign-in refuses a wrong token and keeps the right one in sessionStorage only", async () => {
  await page.getByLabel("Admin token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That token was refused.").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await signIn();
  assert.equal(await page.getByLabel("Admin token").isHidden(), true, "the sign-in form is gone");
  assert.equal(await page.getByRole("heading", { name: "Keys" }).isVisible(), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("keybrake.admin_token")), ADMIN_TOKEN);
  assert.equal(await page.evaluate(() => document.cookie), "");
  assert.ok(!page.url().includes(ADMIN_TOKEN));
  assert.equal(await page.evaluate(() => localStorage.length), 0);
});

test("a key issued through the API appears with its spend after a proxied call", async () => {
  const key = await ctx.kb.issueKey({ label: "dash-agent-1", daily_usd_cap: 50 });
  assert.equal((await call(key.token, 2000)).status, 200);
  const row = page.getByRole("row", { name: /dash-agent-1/ });
  await row.getByText("$20.00 / $50.00").waitFor({ timeout: 15_000 });
  assert.match(await row.textContent(), /stripe/);
  assert.match(await row.textContent(), /\/v1\/payment_intents/);
  assert.match(await row.getByRole("img").getAttribute("aria-label"), /\$20\.00 of \$50\.00 spent today/);
  // The expiry counts down without a reload.
  const cell = row.locator("[data-expires]");
  const first = await cell.textContent();
  await page.waitForTimeout(1200);
  assert.notEqual(await cell.textContent(), first);
  assert.match(first, /^4m \d\ds$/);
  await page.screenshot({ path: path.join(shots, "keys.png") });
});

test("a label written as HTML by an agent is shown as text", async () => {
  await ctx.kb.issueKey({ label: XSS });
  await page.getByRole("row", { name: XSS }).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator("#view img").count(), 0);
  assert.equal(await page.locator("table").getByText(XSS, { exact: true }).count(), 1);
  assert.deepEqual(dialogs, [], "no script ran");
});

test("revoking a key from the page refuses its next proxied call", async () => {
  const key = await ctx.kb.issueKey({ label: "dash-victim", daily_usd_cap: 50 });
  await page.getByRole("button", { name: "Revoke dash-victim" }).click({ timeout: 15_000 });
  const dialog = page.getByRole("dialog");
  assert.match(await dialog.textContent(), new RegExp(key.id));
  await dialog.getByRole("button", { name: "Revoke key" }).click();
  await page.getByText(`Revoked dash-victim (${key.id}).`).waitFor();
  const next = await call(key.token, 100);
  assert.equal(next.status, 401);
  assert.equal(next.json.error.code, "key_revoked");
});

test("revoke-all states how many keys it will kill, and kills exactly those", async () => {
  const batch = [];
  for (let i = 0; i < 3; i++) batch.push(await ctx.kb.issueKey({ label: `dash-batch-${i}` }));
  const bystander = await ctx.kb.issueKey({ label: "dash-keep" });
  await page.getByLabel("Label prefix").fill("dash-batch-");
  await page.getByRole("row", { name: /dash-batch-2/ }).waitFor();
  await page.getByRole("button", { name: "Revoke all matching…" }).click();
  const dialog = page.getByRole("dialog");
  assert.match(await dialog.textContent(), /This kills 3 active keys \(label starting with "dash-batch-"\)/);
  // Cancelling (the button, or Escape from the keyboard) changes nothing.
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "Revoke all matching…" }).focus();
  await page.keyboard.press("Enter");
  await dialog.waitFor();
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  assert.equal((await ctx.kb.admin(`/v1/keys/${batch[0].id}`)).json.status, "active");
  await page.getByRole("button", { name: "Revoke all matching…" }).click();
  await dialog.getByRole("button", { name: "Revoke 3 keys" }).click();
  await page.getByText("Revoked 3 keys.").waitFor();
  for (const k of batch) assert.equal((await ctx.kb.admin(`/v1/keys/${k.id}`)).json.status, "revoked");
  assert.equal((await ctx.kb.admin(`/v1/keys/${bystander.id}`)).json.status, "active");
  await page.getByLabel("Label prefix").fill("");
});

test("the audit log shows why a call was denied, filters, and opens one key's calls", async () => {
  const key = await ctx.kb.issueKey({ label: "dash-audited", daily_usd_cap: 1 });
  assert.equal((await call(key.token, 50)).status, 200);
  assert.equal((await call(key.token, 80)).status, 429);
  await ctx.kb.auditUntil({ key_id: key.id }, (rows) => rows.length === 2);
  await nav("Audit").click();
  await page.getByLabel("Decision").selectOption("denied");
  await page.getByLabel("Label", { exact: true }).fill("dash-audited");
  await page.getByRole("button", { name: "Apply" }).click();
  const denied = page.getByRole("row", { name: /cap_exhausted/ });
  await denied.waitFor();
  assert.match(await denied.textContent(), /dash-audited/);
  assert.match(await denied.textContent(), /POST \/v1\/payment_intents/);
  assert.equal(await page.locator("tbody tr").count(), 1, "the filter left only the denied call");
  await page.screenshot({ path: path.join(shots, "audit.png") });
  await denied.getByRole("link", { name: key.id }).click();
  await page.getByRole("heading", { name: `Audit of ${key.id}` }).waitFor();
  await page.getByRole("row", { name: /allowed/ }).waitFor();
  assert.equal(await page.locator("tbody tr").count(), 2, "both calls of the key");
});

test("the audit log pages through a key's calls, 50 at a time", async () => {
  const key = await ctx.kb.issueKey({ label: "dash-pages", allowed_endpoints: ["/v1/customers"] });
  for (let i = 0; i < 55; i++) assert.equal((await call(key.token, 1)).status, 403);
  await ctx.kb.auditUntil({ key_id: key.id }, (rows) => rows.length === 55);
  await page.goto(`${ctx.kb.url}/#audit?key_id=${key.id}`);
  await page.getByRole("heading", { name: `Audit of ${key.id}` }).waitFor();
  const rows = page.locator("tbody tr");
  await page.getByRole("row", { name: /endpoint_not_allowed/ }).first().waitFor();
  assert.equal(await rows.count(), 50);
  const newer = page.getByRole("button", { name: "← Newer" });
  const older = page.getByRole("button", { name: "Older →" });
  assert.equal(await newer.isDisabled(), true);
  await older.click();
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 5);
  assert.equal(await older.isDisabled(), true);
  await newer.click();
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 50);
});

test("the spend view charts spend and ranks today's spenders", async () => {
  await nav("Spend").click();
  await page.getByRole("figure").locator("rect").first().waitFor();
  const top = page.getByRole("table", { name: "Top spenders today (UTC)" }).getByRole("row", { name: /dash-agent-1/ });
  await top.waitFor();
  assert.match(await top.textContent(), /\$20\.00/);
  await page.getByRole("figure").getByRole("listitem").getByText("stripe: $20.50").waitFor();
  await page.getByLabel("Group by").selectOption("label");
  await page.getByRole("figure").getByRole("listitem").getByText("dash-agent-1: $20.00").waitFor();
  await page.screenshot({ path: path.join(shots, "spend.png") });
});

test("the audit log finds an agent's run by the Keybrake-Run-Id it sent", async () => {
  const runKey = await ctx.kb.issueKey({ label: "dash-run", daily_usd_cap: 10 });
  const ran = await ctx.kb.proxy(runKey.token, "/stripe/v1/payment_intents", { headers: { "keybrake-run-id": "dash-run-7" }, body: { amount: 100, currency: "usd" } });
  assert.equal(ran.status, 200, ran.text);
  assert.equal((await call(runKey.token, 200)).status, 200, "a call of the same key outside the run");
  await ctx.kb.auditUntil({ key_id: runKey.id }, (rows) => rows.length === 2);
  await nav("Keys").click();
  await nav("Audit").click();
  await page.getByLabel("Run id").fill("dash-run-7");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByRole("row", { name: /dash-run/ }).waitFor();
  assert.equal(await page.locator("tbody tr").count(), 1, "only the run's call");
  assert.match(await page.locator("tbody tr").textContent(), /\$1\.00/);
});

test("issue a key from the page: its token is shown once and works; bad input is explained at its field", async () => {
  await nav("Keys").click();
  await page.getByText("Issue a key…").click();
  const form = page.getByRole("form", { name: "Issue a key" });
  const issued = async (prefix) => (await ctx.kb.admin(`/v1/keys?label_prefix=${prefix}`)).json.data;

  // Bad input: refused before anything is sent, or by the API naming the field; nothing issued.
  await form.getByLabel("Label").fill("dash-bad");
  await form.getByLabel("Allowed endpoints (one pattern per line)").fill("POST /v1/payment_intents");
  await form.getByLabel("Daily cap (USD)").fill("5");
  await form.getByLabel("Constraints (optional JSON)").fill("{max_amount_usd: 5}");
  await form.getByRole("button", { name: "Issue key" }).click();
  await page.getByRole("status").getByText(/The constraints are not JSON/).waitFor();
  assert.equal(await form.getByLabel("Constraints (optional JSON)").getAttribute("aria-invalid"), "true");
  await form.getByLabel("Constraints (optional JSON)").fill("");
  await form.getByLabel("Allowed endpoints (one pattern per line)").fill("/v1/../customers");
  await form.getByRole("button", { name: "Issue key" }).click();
  await page.getByRole("status").getByText(/Could not issue the key: bad_request/).waitFor();
  assert.equal(await form.getByLabel("Allowed endpoints (one pattern per line)").getAttribute("aria-invalid"), "true");
  assert.deepEqual(await issued("dash-bad"), []);

  await form.getByLabel("Label").fill("dash-issued");
  await form.getByLabel("Vendor").selectOption("stripe");
  await form.getByLabel("Allowed endpoints (one pattern per line)").fill("POST /v1/payment_intents\nGET /v1/payment_intents/*");
  await form.getByLabel("Daily cap (USD)").fill("12.50");
  await form.getByLabel("Expires in").fill("10m");
  await form.getByLabel("Constraints (optional JSON)").fill('{"max_amount_usd": 5}');
  await form.getByRole("button", { name: "Issue key" }).click();
  const token = await page.locator("#key-token").textContent({ timeout: 15_000 });
  assert.match(token, /^kbk_[0-9a-f]{24}_[0-9a-f]+$/);
  // No answer the tests see may carry it, nor any log line.
  ctx.kb.issuedTokens.set(token, 0);

  const [key] = await issued("dash-issued");
  assert.equal(key.status, "active");
  assert.equal(key.daily_usd_cap, 12.5);
  assert.deepEqual(key.allowed_endpoints, ["POST /v1/payment_intents", "GET /v1/payment_intents/*"]);
  assert.deepEqual(key.constraints, { max_amount_usd: 5 });
  assert.equal(Date.parse(key.expires_at) - Date.parse(key.created_at), 600_000);
  assert.ok(token.startsWith(`kbk_${key.id.slice(4)}_`), "the token shown is this key's");
  // The token works, within what the form set.
  assert.equal((await call(token, 400)).status, 200);
  const over = await call(token, 600);
  assert.equal(over.status, 403);
  assert.equal(over.json.code, "constraint_violated");
  await page.getByRole("row", { name: /dash-issued/ }).getByText("$4.00 / $12.50").waitFor({ timeout: 15_000 });

  // Shown once: the keys view opened again has no token on it.
  await nav("Approvals").click();
  await nav("Keys").click();
  await page.getByRole("row", { name: /dash-issued/ }).waitFor();
  assert.ok(!(await page.content()).includes(token), "the token is nowhere on the page");
});

test("pause, resume and edit a key from the page; the next call sees each at once", async () => {
  await nav("Keys").click();
  const key = await ctx.kb.issueKey({ label: "dash-steer", daily_usd_cap: 50 });
  await page.getByRole("button", { name: "Pause dash-steer" }).click({ timeout: 15_000 });
  await page.getByText("Paused dash-steer: its calls are refused until it is resumed.").waitFor();
  const paused = await call(key.token, 100);
  assert.equal(paused.status, 423, paused.text);
  await page.getByLabel("Status").selectOption("paused");
  const row = page.getByRole("row", { name: /dash-steer/ });
  assert.match(await row.getByText("paused", { exact: true }).textContent(), /paused/);
  await row.getByRole("button", { name: "Resume dash-steer" }).click();
  await page.getByText("Resumed dash-steer.").waitFor();
  assert.equal((await call(key.token, 100)).status, 200);

  await page.getByLabel("Status").selectOption("active");
  await page.getByRole("button", { name: "Edit dash-steer" }).click({ timeout: 15_000 });
  const dialog = page.getByRole("dialog", { name: "Change dash-steer" });
  assert.equal(await dialog.getByLabel("Daily cap (USD)").inputValue(), "50");
  await dialog.getByLabel("Daily cap (USD)").fill("7");
  await dialog.getByRole("button", { name: "Save" }).click();
  await page.getByText("Changed dash-steer.").waitFor();
  const changed = await ctx.kb.admin(`/v1/keys/${key.id}`);
  assert.equal(changed.json.daily_usd_cap, 7);
  await page.getByRole("row", { name: /dash-steer/ }).getByText("$1.00 / $7.00").waitFor();
  // Cancelling changes nothing.
  await page.getByRole("button", { name: "Edit dash-steer" }).click();
  await dialog.getByLabel("Daily cap (USD)").fill("9999");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal((await ctx.kb.admin(`/v1/keys/${key.id}`)).json.daily_usd_cap, 7);

  // Constraints, as JSON: tightening applies to the next call; loosening is refused and said.
  const constraints = dialog.getByLabel("Constraints (JSON; each may only tighten)");
  await page.getByRole("button", { name: "Edit dash-steer" }).click();
  assert.equal(await constraints.inputValue(), "", "no constraints yet");
  await constraints.fill('{"max_amount_usd": 3}');
  await dialog.getByRole("button", { name: "Save" }).click();
  // The status line already says "Changed dash-steer." from the cap: wait on the key itself.
  const tightened = await eventually(() => ctx.kb.admin(`/v1/keys/${key.id}`), (r) => r.json.constraints !== null, { what: "the constraints change" });
  assert.deepEqual(tightened.json.constraints, { max_amount_usd: 3 });
  const over = await call(key.token, 400);
  assert.equal(over.status, 403);
  assert.equal(over.json.code, "constraint_violated");
  await page.getByRole("button", { name: "Edit dash-steer" }).click();
  assert.deepEqual(JSON.parse(await constraints.inputValue()), { max_amount_usd: 3 }, "the dialog shows the key's constraints");
  await constraints.fill('{"max_amount_usd": 30}');
  await dialog.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").getByText(/Could not edit dash-steer: bad_request: .*max_amount_usd/).waitFor();
  assert.deepEqual((await ctx.kb.admin(`/v1/keys/${key.id}`)).json.constraints, { max_amount_usd: 3 }, "a looser constraint changed nothing");
});

test("the approvals inbox shows what waits; approving or denying with a note decides it", async () => {
  const key = await ctx.kb.issueKey({ label: "dash-approve", daily_usd_cap: 500, constraints: { approval_above_usd: 10 } });
  const ask = (amount, customer) =>
    ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", {
      body: `amount=${amount}&currency=usd&customer=${customer}`,
      headers: { "content-type": "application/x-www-form-urlencoded", "keybrake-run-id": "run-42" },
    });
  const first = await ask(2500, "cus_dash1");
  const second = await ask(4000, "cus_dash2");
  assert.equal(first.status, 403, first.text);
  assert.equal(second.status, 403, second.text);
  await nav("Approvals").click();
  const row = page.getByRole("row", { name: /cus_dash1/ });
  await row.waitFor({ timeout: 15_000 });
  const text = await row.textContent();
  for (const part of ["dash-approve", "stripe", "POST /v1/payment_intents", "$25.00", "25.00 USD", "run-42", "pending"]) assert.ok(text.includes(part), `${part} in ${text}`);
  assert.match(await row.locator("[data-expires]").textContent(), /^1[45]m \d\ds$/);
  await page.screenshot({ path: path.join(shots, "approvals.png") });

  await row.getByLabel("Note for dash-approve").fill("invoice 7");
  await row.getByRole("button", { name: "Approve dash-approve" }).click();
  await page.getByText("Approved $25.00 for dash-approve.").waitFor();
  const approved = await ctx.kb.admin(`/v1/approvals/${first.headers.get("keybrake-approval-id")}`);
  assert.equal(approved.json.status, "approved");
  assert.equal(approved.json.note, "invoice 7");
  await page.getByRole("row", { name: /cus_dash2/ }).getByRole("button", { name: "Deny dash-approve" }).click();
  await page.getByText("Denied $40.00 for dash-approve.").waitFor();
  assert.equal((await ctx.kb.admin(`/v1/approvals/${second.headers.get("keybrake-approval-id")}`)).json.status, "denied");
  assert.equal((await ask(2500, "cus_dash1")).status, 200, "the approved request goes through");
  await page.getByText("Nothing waits for you.").waitFor();
});

test("webhooks: register one from the page, see its secret once, its deliveries, and delete it", async () => {
  await nav("Webhooks").click();
  await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/internal");
  await page.getByLabel("Events").selectOption("key.revoked");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByText(/url must be https/).waitFor();
  await page.getByLabel("Endpoint URL").fill("https://hooks.example.com/dash");
  await page.getByLabel("Events").selectOption("key.revoked");
  await page.getByLabel("Label prefix").fill("dash-hook-");
  await page.getByRole("button", { name: "Register" }).click();
  const secret = await page.locator("#webhook-secret").textContent({ timeout: 15_000 });
  assert.match(secret, /^whsec_[0-9a-f]{64}$/);
  // Shown to the browser only: no answer the tests see may carry it.
  ctx.kb.issuedTokens.set(secret, 0);
  const section = page.getByRole("region", { name: "Webhook https://hooks.example.com/dash" });
  await section.getByText("No deliveries yet.").waitFor();

  // hooks.example.com cannot be reached from here: the delivery shows as failed.
  const key = await ctx.kb.issueKey({ label: "dash-hook-1" });
  await ctx.kb.admin(`/v1/keys/${key.id}`, { method: "DELETE" });
  await section.getByRole("row", { name: /key\.revoked/ }).first().waitFor({ timeout: 20_000 });
  assert.match(await section.getByRole("row", { name: /key\.revoked/ }).first().textContent(), /failed/);
  await page.screenshot({ path: path.join(shots, "webhooks.png") });

  await section.getByRole("button", { name: "Delete the webhook to https://hooks.example.com/dash" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete webhook" }).click();
  await page.getByText("Deleted the webhook to https://hooks.example.com/dash.").waitFor();
  assert.equal((await ctx.kb.admin("/v1/webhooks")).json.data.length, 0);
  await nav("Keys").click();
});

/** Polls `probe` until it answers something truthy (or fails the test after `ms`). */
async function until(probe, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await page.waitForTimeout(200);
  }
}

/** The value (`<dd>`) of a term in a definition list on the page. */
const fact = (list, term) => list.locator("dt", { hasText: term }).locator("xpath=following-sibling::dd[1]");

test("issuers: create one from the page with its ceilings, see its token once, revoke it with its keys", async () => {
  await nav("Issuers").click();
  await page.getByRole("heading", { name: "Issuers" }).waitFor();
  await page.getByText("No issuers yet.").waitFor();
  const form = page.getByRole("form", { name: "Create an issuer" });
  await form.getByLabel("Label", { exact: true }).fill("dash-issuer");
  await form.getByLabel("Endpoint ceiling (one pattern per line)").fill("payment_intents");
  await form.getByLabel("Max daily cap per key (USD)").fill("20");
  await form.getByLabel("Max live keys").fill("2");
  await form.getByLabel("Max daily spend, all keys together (USD)").fill("100");
  // No vendor chosen: refused on the page, nothing sent.
  await form.getByRole("button", { name: "Create issuer" }).click();
  await page.getByText("Choose at least one vendor the issuer may issue keys for.").waitFor();
  await form.getByRole("group", { name: "Vendors" }).getByLabel("stripe").check();
  // A pattern the API refuses: its message is shown and the field marked.
  await form.getByRole("button", { name: "Create issuer" }).click();
  await page.getByText(/^Could not create the issuer: bad_request: endpoint_ceiling "payment_intents": must start with \//).waitFor();
  assert.equal(await form.getByLabel("Endpoint ceiling (one pattern per line)").getAttribute("aria-invalid"), "true");
  assert.equal((await ctx.kb.admin("/v1/issuers")).json.data.length, 0, "nothing was created");

  await form.getByLabel("Endpoint ceiling (one pattern per line)").fill("POST /v1/payment_intents\n/v1/payment_intents/**\n");
  await form.getByLabel("Max total spend, all keys (USD, optional)").fill("500");
  await form.getByLabel("Max key lifetime (optional)").fill("10m");
  await form.getByLabel("Label prefix its keys must have (optional)").fill("dash-iss-");
  await form.getByLabel("Token lifetime (optional; empty: until revoked)").fill("30d");
  await form.getByRole("button", { name: "Create issuer" }).click();
  const token = await page.locator("#issuer-token").textContent({ timeout: 15_000 });
  assert.match(token, /^kbi_[0-9a-f]{24}_[0-9a-f]{48}$/);
  // No answer the tests see may carry it, nor any log line.
  ctx.kb.issuedTokens.set(token, 0);
  assert.equal(await form.getByLabel("Label", { exact: true }).inputValue(), "", "the form was cleared");

  const listed = (await ctx.kb.admin("/v1/issuers")).json.data;
  assert.equal(listed.length, 1);
  const issuer = listed[0];
  assert.match(issuer.id, /^iss_[0-9a-f]{24}$/);
  assert.ok(token.startsWith(`kbi_${issuer.id.slice(4)}_`), "the token is this issuer's");
  const { id, created_at, expires_at, ...ceilings } = issuer;
  assert.deepEqual(ceilings, {
    label: "dash-issuer",
    status: "active",
    revoked_at: null,
    vendors: ["stripe"],
    endpoint_ceiling: ["POST /v1/payment_intents", "/v1/payment_intents/**"],
    max_daily_usd_cap: 20,
    max_total_usd_cap: null,
    max_ttl: "10m",
    max_live_keys: 2,
    label_prefix: "dash-iss-",
    required_constraints: null,
    allowed_accounts: [],
    max_daily_spend_usd: 100,
    max_total_spend_usd: 500,
    can_approve: false,
  });
  const lifetime = Date.parse(expires_at) - Date.parse(created_at);
  assert.equal(lifetime, 30 * 86_400_000);

  // The token shown works, and mints a key inside the ceilings.
  const asIssuer = (path, init = {}) => ctx.kb.fetch(path, { ...init, headers: { authorization: `Bearer ${token}` } });
  assert.equal((await asIssuer("/v1/keys")).status, 200);
  const minted = await asIssuer("/v1/keys", {
    method: "POST",
    body: JSON.stringify({ label: "dash-iss-1", vendor: "stripe", allowed_endpoints: ["POST /v1/payment_intents"], daily_usd_cap: 10, expires_in: "5m" }),
  });
  assert.equal(minted.status, 201, minted.text);
  assert.equal((await call(minted.json.token, 300)).status, 200);

  const row = page.getByRole("row", { name: /dash-issuer/ });
  await row.getByText("1 / 2", { exact: true }).waitFor({ timeout: 15_000 });
  const text = await row.textContent();
  for (const part of [issuer.id, "active", "stripe", "POST /v1/payment_intents", "/v1/payment_intents/**", "$20.00", "$100.00", "$500.00 in all", 'labels start with "dash-iss-"', "keys live at most 10m"]) {
    assert.ok(text.includes(part), `${part} in ${text}`);
  }
  await page.screenshot({ path: path.join(shots, "issuers.png") });

  // Shown once: leaving the view and coming back shows it no more.
  await nav("Keys").click();
  await nav("Issuers").click();
  await row.waitFor();
  assert.equal(await page.locator("#issuer-token").count(), 0);
  assert.ok(!(await page.content()).includes(token), "the token is nowhere on the page");

  // A hostile issuer label is text.
  const hostile = await ctx.kb.admin("/v1/issuers", {
    method: "POST",
    body: { label: XSS, vendors: ["resend"], endpoint_ceiling: ["POST /emails"], max_daily_usd_cap: 1, max_live_keys: 1, max_daily_spend_usd: 1 },
  });
  assert.equal(hostile.status, 201, hostile.text);
  await page.getByRole("row", { name: XSS }).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator("#view img").count(), 0);

  await row.getByRole("button", { name: "Revoke the issuer dash-issuer" }).click();
  const dialog = page.getByRole("dialog");
  assert.match(await dialog.textContent(), /Its token stops working now, and every live key it issued \(1 now\) is revoked with it/);
  await dialog.getByRole("button", { name: "Revoke issuer" }).click();
  await page.getByText("Revoked dash-issuer and its 1 key.").waitFor();
  assert.equal((await asIssuer("/v1/keys")).status, 401, "the token is refused");
  assert.equal((await ctx.kb.admin(`/v1/keys/${minted.json.id}`)).json.status, "revoked");
  assert.equal((await call(minted.json.token, 100)).status, 401, "its key is refused");
  assert.equal((await ctx.kb.admin(`/v1/issuers/${issuer.id}`)).json.status, "revoked");
  await row.getByText("revoked", { exact: true }).waitFor();
  assert.equal(await row.getByRole("button").count(), 0, "nothing left to revoke");
  assert.equal((await ctx.kb.admin(`/v1/issuers/${hostile.json.id}`)).json.status, "active", "the other issuer is untouched");
  assert.deepEqual(dialogs, []);
});

test("budgets: set one from the page, see what its keys lease today, change its cap and delete it", async () => {
  const key = await ctx.kb.issueKey({ label: "dash-bud-1", daily_usd_cap: 50 });
  await nav("Budgets").click();
  await page.getByText("No budgets: only each key's own cap holds.").waitFor();
  const form = page.getByRole("form", { name: "Set a budget" });
  await form.getByLabel("Vendor").selectOption("stripe");
  await form.getByLabel("Label prefix (optional)").fill("dash-bud-");
  await form.getByLabel("Daily cap (USD)").fill("40");
  await form.getByRole("button", { name: "Set budget" }).click();
  await page.getByText("Budget set: $40.00 a day for stripe/dash-bud-; it now binds 1 live key.").waitFor();
  const [budget] = (await ctx.kb.admin("/v1/budgets")).json.data;
  assert.deepEqual({ ...budget, id: undefined, created_at: undefined }, { id: undefined, created_at: undefined, vendor: "stripe", label_prefix: "dash-bud-", daily_usd_cap: 40 });

  // A $10 payment under it: its key leases from the budget.
  assert.equal((await call(key.token, 1000)).status, 200);
  const row = page.getByRole("row", { name: /dash-bud-/ });
  const bar = row.getByRole("img", { name: /leased today/ });
  const shown = await until(async () => {
    const m = /^\$(\d+\.\d\d) of \$40\.00 leased today$/.exec(await bar.getAttribute("aria-label"));
    return m && Number(m[1]) > 0 && Number(m[1]);
  }, "a lease on the page");
  assert.ok(shown >= 10 && shown <= 40, `leased $${shown}`);
  const state = (await ctx.kb.admin(`/v1/budgets/${budget.id}`)).json;
  assert.ok(state.leased_today_usd >= 10, `the API says $${state.leased_today_usd}`);
  assert.equal(state.keys_today, 1);
  assert.equal(await row.getByRole("cell").nth(4).textContent(), "1", "keys today");
  assert.match(await page.locator("#view").textContent(), /Leased is an upper bound on today's spend/);
  await page.screenshot({ path: path.join(shots, "budgets.png") });

  // A cap the API refuses is explained, and changes nothing.
  await row.getByLabel("New cap for stripe dash-bud-", { exact: true }).fill("0");
  await row.getByRole("button", { name: "Save the new cap for stripe dash-bud-" }).click();
  await page.getByText(/^Could not change the budget for stripe dash-bud-: bad_request: daily_usd_cap must be above zero/).waitFor();
  assert.equal((await ctx.kb.admin(`/v1/budgets/${budget.id}`)).json.daily_usd_cap, 40);
  await row.getByLabel("New cap for stripe dash-bud-", { exact: true }).fill("60");
  await row.getByRole("button", { name: "Save the new cap for stripe dash-bud-" }).click();
  await page.getByText("Budget set: $60.00 a day for stripe/dash-bud-; it now binds 1 live key.").waitFor();
  const raised = (await ctx.kb.admin("/v1/budgets")).json.data;
  assert.deepEqual(raised.map((b) => [b.id, b.daily_usd_cap]), [[budget.id, 60]], "the same budget, its cap raised");
  await row.getByRole("img", { name: /of \$60\.00 leased today/ }).waitFor();

  await row.getByRole("button", { name: "Delete the budget for stripe dash-bud-" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete budget" }).click();
  await page.getByText("Deleted the budget for stripe dash-bud-.").waitFor();
  assert.deepEqual((await ctx.kb.admin("/v1/budgets")).json.data, []);
  assert.equal((await ctx.kb.admin(`/v1/budgets/${budget.id}`)).status, 404);
  await page.getByText("No budgets: only each key's own cap holds.").waitFor();
});

test("usage: the spend view's table sums calls and spend per label, vendor and key as the API does", async () => {
  const key = await ctx.kb.issueKey({ label: "dash-usage", daily_usd_cap: 5 });
  assert.equal((await call(key.token, 150)).status, 200);
  assert.equal((await call(key.token, 250)).status, 200);
  assert.equal((await call(key.token, 400)).status, 429, "over its $5 cap: denied");
  await ctx.kb.auditUntil({ key_id: key.id }, (rows) => rows.length === 3);
  await nav("Spend").click();
  const table = page.getByRole("table", { name: /^Usage per/ });
  const cells = async (row) => (await row.getByRole("cell").allTextContents()).map((t) => t.trim());

  const row = table.getByRole("row", { name: /dash-usage/ });
  await row.waitFor({ timeout: 15_000 });
  assert.deepEqual(await cells(row), ["dash-usage", "3", "2", "1", "$4.00"]);
  const byLabel = (await ctx.kb.admin("/v1/usage?group_by=label")).json;
  const mine = byLabel.data.find((r) => r.label === "dash-usage");
  assert.deepEqual(mine, { label: "dash-usage", calls: 3, allowed: 2, denied: 1, cost_usd: 4 });
  // Every label the API lists today, in its order, with its figures; and its total.
  await until(async () => {
    const api = (await ctx.kb.admin("/v1/usage?group_by=label")).json;
    const want = api.data.map((r) => [r.label ?? "(none)", String(r.calls), String(r.allowed), String(r.denied), `$${r.cost_usd.toFixed(2)}`]);
    const got = await Promise.all((await table.locator("tbody tr").all()).map(cells));
    const total = await cells(table.locator("tfoot tr"));
    return JSON.stringify(got) === JSON.stringify(want) && total[0] === String(api.total.calls) && total.at(-1) === `$${api.total.cost_usd.toFixed(2)}`;
  }, "the usage table to match GET /v1/usage?group_by=label");
  assert.equal(await table.locator("tfoot th").textContent(), "Total");

  await page.getByLabel("Usage by").selectOption("vendor");
  await table.getByRole("columnheader", { name: "Vendor" }).waitFor();
  await until(async () => {
    const stripe = (await ctx.kb.admin("/v1/usage?group_by=vendor")).json.data.find((r) => r.vendor === "stripe");
    const want = ["stripe", String(stripe.calls), String(stripe.allowed), String(stripe.denied), `$${stripe.cost_usd.toFixed(2)}`];
    return JSON.stringify(await cells(table.getByRole("row", { name: /^stripe/ }))) === JSON.stringify(want);
  }, "the stripe row to match GET /v1/usage?group_by=vendor");

  // The period asks for whole UTC days up to now.
  const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  const seven = page.waitForRequest((r) => r.url().includes("/v1/usage?") && new URL(r.url()).searchParams.get("since") !== String(midnight));
  await page.getByLabel("Usage period").selectOption("7d");
  const asked = new URL((await seven).url()).searchParams;
  assert.equal(asked.get("since"), String(midnight - 6 * 86_400_000), "the last 7 UTC days");
  assert.equal(asked.get("group_by"), "vendor");

  await page.getByLabel("Usage period").selectOption("today");
  await page.getByLabel("Usage by").selectOption("key");
  const keyRow = table.getByRole("row", { name: new RegExp(key.id) });
  await keyRow.waitFor();
  assert.deepEqual(await cells(keyRow), [`${key.id}dash-usage`, "3", "2", "1", "$4.00"]);
  await table.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, "usage.png") });
  // A key's row opens its details.
  await keyRow.getByRole("link", { name: key.id }).click();
  await page.getByRole("heading", { name: "dash-usage" }).waitFor();
  assert.ok(page.url().endsWith(`#key?id=${key.id}`));

  // Narrowed to a label prefix, then a vendor, as the API narrows them.
  await nav("Spend").click();
  await page.getByLabel("Usage label prefix").fill("dash-usa");
  await until(async () => {
    const got = await Promise.all((await table.locator("tbody tr").all()).map(cells));
    return JSON.stringify(got) === JSON.stringify([["dash-usage", "3", "2", "1", "$4.00"]]);
  }, "only dash-usage's row");
  await page.getByLabel("Usage vendor").selectOption("twilio");
  await table.getByText("No calls in this period.").waitFor();
  assert.deepEqual((await ctx.kb.admin("/v1/usage?group_by=label&vendor=twilio&label_prefix=dash-usa")).json.data, []);
});

test("a key's details: its state, spend and constraints as text, and the same actions as the keys table", async () => {
  const constraints = { max_amount_usd: 25, currencies: ["usd"], rate_limit: { requests: 5, per: "minute" }, metadata: { run: null, [XSS]: XSS }, total_usd_cap: 100 };
  const key = await ctx.kb.issueKey({ label: "dash-detail", daily_usd_cap: 30, constraints });
  const paid = await ctx.kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount: 700, currency: "usd", metadata: { run: "r1", [XSS]: XSS } } });
  assert.equal(paid.status, 200, paid.text);
  assert.deepEqual((await ctx.kb.settledKey(key.id)).json.constraints, constraints, "the API kept them as sent");

  // The keys table's label opens the details.
  await nav("Keys").click();
  await page.getByRole("row", { name: /dash-detail/ }).getByRole("link", { name: "dash-detail" }).click();
  const heading = page.getByRole("heading", { name: "dash-detail" });
  await heading.waitFor();
  assert.ok(page.url().endsWith(`#key?id=${key.id}`));
  assert.equal(await nav("Keys").getAttribute("aria-current"), "page");
  const facts = page.locator("dl.facts").first();
  await fact(facts, "Spent today").getByText("$7.00 / $30.00").waitFor({ timeout: 15_000 });
  assert.equal(await fact(facts, "Id").textContent(), key.id);
  assert.equal(await fact(facts, "Label").textContent(), "dash-detail");
  assert.equal(await fact(facts, "Vendor").textContent(), "stripe");
  assert.equal(await fact(facts, "Status").textContent(), "active");
  assert.match(await fact(facts, "Expires").textContent(), /\(in 4m \d\ds\)$/);
  assert.equal(await fact(facts, "Held by calls in flight").textContent(), "$0.00");
  assert.equal(await fact(facts, "Left today").textContent(), "$23.00");
  assert.deepEqual(await fact(facts, "Allowed endpoints").getByRole("listitem").allTextContents(), ["/v1/payment_intents", "/v1/payment_intents/*"]);
  assert.match(await fact(facts, "Spent today").getByRole("img").getAttribute("aria-label"), /\$7\.00 of \$30\.00 spent today/);

  const list = page.locator("dl.constraints");
  assert.equal(await fact(list, "max_amount_usd").textContent(), "$25.00");
  assert.equal(await fact(list, "currencies").textContent(), "usd");
  assert.equal(await fact(list, "rate_limit").textContent(), "5 per minute");
  assert.equal(await fact(list, "total_usd_cap").textContent(), "$100.00");
  assert.deepEqual((await fact(list, "metadata").getByRole("listitem").allTextContents()).sort(), [`${XSS}=${XSS}`, "run=any"].sort());
  assert.equal(await list.locator("dt").count(), 5, "each constraint once");
  assert.equal(await page.locator("#view img").count(), 0, "the hostile metadata is text");
  assert.deepEqual(dialogs, [], "no script ran");
  await page.screenshot({ path: path.join(shots, "key.png") });

  // The keys table's actions, here too.
  await page.getByRole("button", { name: "Pause dash-detail" }).click();
  await page.getByText("Paused dash-detail: its calls are refused until it is resumed.").waitFor();
  await fact(facts, "Status").getByText("paused", { exact: true }).waitFor();
  assert.equal((await ctx.kb.admin(`/v1/keys/${key.id}`)).json.status, "paused");
  await page.getByRole("button", { name: "Resume dash-detail" }).click();
  await page.getByText("Resumed dash-detail.").waitFor();
  assert.equal((await ctx.kb.admin(`/v1/keys/${key.id}`)).json.status, "active");
  await page.getByRole("button", { name: "Edit dash-detail" }).click();
  const edit = page.getByRole("dialog", { name: "Change dash-detail" });
  assert.equal(await edit.getByLabel("Lifetime cap (USD, optional)").inputValue(), "100");
  await edit.getByLabel("Daily cap (USD)").fill("12");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.getByText("Changed dash-detail.").waitFor();
  await fact(facts, "Spent today").getByText("$7.00 / $12.00").waitFor();
  assert.equal((await ctx.kb.admin(`/v1/keys/${key.id}`)).json.daily_usd_cap, 12);
  await page.getByRole("button", { name: "Revoke dash-detail" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
  await page.getByText(`Revoked dash-detail (${key.id}).`).waitFor();
  await fact(facts, "Status").getByText("revoked", { exact: true }).waitFor();
  assert.equal(await page.locator(".key-actions button").count(), 0, "a revoked key has no actions");
  assert.equal((await call(key.token, 100)).status, 401);

  // The audit link opens the key's calls.
  await page.getByRole("link", { name: "Audit log of this key" }).click();
  await page.getByRole("heading", { name: `Audit of ${key.id}` }).waitFor();

  // A key without constraints says so.
  const plain = await ctx.kb.issueKey({ label: "dash-plain" });
  await page.goto(`${ctx.kb.url}/#key?id=${plain.id}`);
  await page.getByRole("heading", { name: "dash-plain" }).waitFor();
  assert.equal(await page.locator("p.constraints").textContent(), "None");

  // An unknown or malformed id is said to be not found.
  for (const id of [`key_${"0".repeat(24)}`, "nope"]) {
    await page.goto(`${ctx.kb.url}/#key?id=${id}`);
    await page.getByRole("heading", { name: "Key not found" }).waitFor();
    assert.equal(await page.getByRole("alert").filter({ hasText: "No key has" }).textContent(), `No key has the id "${id}". Check the link, or find the key in the keys list.`);
  }
  await nav("Keys").click();
});

test("on a phone the keys view still fits and works", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await nav("Keys").click();
  await page.getByRole("row", { name: /dash-agent-1/ }).waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scroll of the page (${width}px)`);
  await page.screenshot({ path: path.join(shots, "keys-phone.png") });
  await page.setViewportSize({ width: 1360, height: 900 });
});

test("signing out forgets the token; the page only ever talked to the Worker", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Admin token").waitFor();
  assert.equal(await page.locator("#view").isHidden(), true, "nothing of the signed-in views is left");
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.deepEqual(foreignRequests, []);
  assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy/i.test(e)), [], "nothing the CSP had to block");
  assert.deepEqual(dialogs, []);
});
