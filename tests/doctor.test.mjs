// `npm run doctor` names what a checkout or a running Keybrake lacks (and
// never a value), and exits 1 on a problem; /healthz, which it reads, agrees.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
import { useKeybrake } from "./support/setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ctx = useKeybrake({}, { port: 0 });
const dir = mkdtempSync(path.join(os.tmpdir(), "kb-doctor-"));

function doctor(argv, env = {}) {
  const { KEYBRAKE_ADMIN_TOKEN, ...rest } = process.env;
  const run = spawnSync(process.execPath, [path.join(root, "scripts/doctor.mjs"), ...argv], { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...rest, ...env } });
  return { status: run.status, out: run.stdout + run.stderr };
}

function varsFile(name, vars) {
  const file = path.join(dir, name);
  writeFileSync(file, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  return file;
}

const SECRETS = { STRIPE_SECRET_KEY: "sk_test_doctor_secret_value", TWILIO_ACCOUNT_SID: "AC" + "d".repeat(32), TWILIO_AUTH_TOKEN: "twilio_doctor_secret_value", RESEND_API_KEY: "re_doctor_secret_value" };

test("a complete settings file: nothing missing, exit 0", () => {
  const { status, out } = doctor(["--vars", varsFile("complete.vars", { KEYBRAKE_ADMIN_TOKEN: ADMIN_TOKEN, ...SECRETS })]);
  assert.equal(status, 0, out);
  assert.match(out, /Nothing missing\./);
  assert.doesNotMatch(out, /✗|! +(stripe|twilio|resend|KEYBRAKE)/, out);
  // This repository's wrangler.toml carries the local D1 placeholder.
  assert.match(out, /! +wrangler\.toml's database_id is the local placeholder/);
  for (const vendor of ["stripe", "twilio", "resend"]) assert.match(out, new RegExp(`ok  ${vendor}: credentials configured`));
});

test("missing secrets are named as warnings, broken settings as problems (exit 1); values never printed", () => {
  const { status, out } = doctor([
    "--vars",
    varsFile("broken.vars", { KEYBRAKE_ADMIN_TOKEN: "change-me", STRIPE_SECRET_KEY: SECRETS.STRIPE_SECRET_KEY, TWILIO_ACCOUNT_SID: SECRETS.TWILIO_ACCOUNT_SID, KEYBRAKE_USD_RATES: '{"eur":"lots"}', RESEND_API_KEY: "re_replace_me" }),
  ]);
  assert.equal(status, 1, out);
  assert.match(out, /✗ +KEYBRAKE_ADMIN_TOKEN is still the example's placeholder/);
  assert.match(out, /✗ +KEYBRAKE_USD_RATES is invalid: rate for "eur"/);
  assert.match(out, /! +twilio: .*TWILIO_AUTH_TOKEN.*503 not_configured/);
  // .dev.vars.example's placeholder: present, but Resend would refuse it.
  assert.match(out, /! +RESEND_API_KEY is still the example's placeholder: the vendor will refuse it/);
  assert.match(out, /ok  resend: credentials configured/);
  assert.match(out, /ok  stripe: credentials configured/);
  assert.match(out, /2 problems to fix\./);
  for (const value of [SECRETS.STRIPE_SECRET_KEY, SECRETS.TWILIO_ACCOUNT_SID, "lots"]) assert.ok(!out.includes(value), `printed ${value}`);
});

test("no settings file and no admin token: each named", () => {
  const missing = doctor(["--vars", path.join(dir, "absent.vars")]);
  assert.equal(missing.status, 1, missing.out);
  assert.match(missing.out, /absent\.vars does not exist/);
  assert.match(missing.out, /✗ +KEYBRAKE_ADMIN_TOKEN is not set: the management API answers 503 not_configured/);
});

test("--url reads a running Keybrake's /healthz; the vendors only with the admin token", async () => {
  const { status, out } = doctor(["--url", ctx.kb.url], { KEYBRAKE_ADMIN_TOKEN: ADMIN_TOKEN });
  assert.equal(status, 0, out);
  for (const vendor of ["stripe", "twilio", "resend"]) assert.match(out, new RegExp(`ok  ${vendor}: credentials configured`));
  const health = await ctx.kb.admin("/healthz");
  assert.deepEqual(health.json, { ok: true, problems: [], vendors: { resend: { ready: true }, stripe: { ready: true }, twilio: { ready: true } } });

  const anonymous = doctor(["--url", ctx.kb.url]);
  assert.equal(anonymous.status, 0, anonymous.out);
  assert.match(anonymous.out, /! +which vendors lack a secret is said to the admin token only/);
  assert.doesNotMatch(anonymous.out, /credentials configured/);
  assert.deepEqual((await ctx.kb.fetch("/healthz")).json, { ok: true, problems: [] });
  // A wrong token is a stranger too.
  assert.deepEqual((await ctx.kb.fetch("/healthz", { headers: { authorization: "Bearer not-the-admin-token" } })).json, { ok: true, problems: [] });

  const nobody = doctor(["--url", "http://127.0.0.1:9"]);
  assert.equal(nobody.status, 1);
  assert.match(nobody.out, /no answer from http:\/\/127\.0\.0\.1:9/);
});
