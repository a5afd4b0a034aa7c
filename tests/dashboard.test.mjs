// The dashboard in a real browser (Debian's Chromium, driven by
// playwright-core) against the Worker serving it: sign-in, keys with their
// spend, revoking one key and all matching keys, the audit log, the spend
// chart, hostile labels shown as text, and the security headers.
// KEYBRAKE_SCREENSHOTS=1 saves the screenshots to docs/screenshots/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
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
  const top = page.getByRole("row", { name: /dash-agent-1/ });
  await top.waitFor();
  assert.match(await top.textContent(), /\$20\.00/);
  await page.getByRole("figure").getByRole("listitem").getByText("stripe: $20.50").waitFor();
  await page.getByLabel("Group by").selectOption("label");
  await page.getByRole("figure").getByRole("listitem").getByText("dash-agent-1: $20.00").waitFor();
  await page.screenshot({ path: path.join(shots, "spend.png") });
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
  ctx.kb.issuedTokens.set(secret, 1);
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
