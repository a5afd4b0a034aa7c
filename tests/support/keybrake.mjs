// Runs the built Keybrake Worker (build/) in Miniflare with the bindings from
// wrangler.toml: real Durable Objects and a real D1 database, in memory.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { eventually } from "./poll.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const ADMIN_TOKEN = "kb_admin_test_token_do_not_use_elsewhere";

/** Splits a migration file into statements D1 can prepare one by one. */
export function migrationStatements() {
  const dir = path.join(root, "migrations");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) =>
      readFileSync(path.join(dir, f), "utf8")
        .split("\n")
        .map((line) => line.replace(/--.*$/, ""))
        .join("\n")
        .split(";")
        .map((s) => s.trim())
        .filter(Boolean),
    );
}

/** Miniflare options for the Keybrake Worker, from wrangler.toml. */
export function keybrakeWorkerOptions(vars = {}) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.toml"));
  return {
    ...workerOptions,
    name: "keybrake",
    modules: true,
    // KEYBRAKE_BUILD_DIR runs another build (to show a test fails on it).
    scriptPath: path.join(process.env.KEYBRAKE_BUILD_DIR ?? path.join(root, "build"), "index.js"),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    // KEYBRAKE_TEST_HOOKS enables the test-only clock, settlement and fault
    // switches; production configuration never sets it.
    bindings: { ...workerOptions.bindings, KEYBRAKE_ADMIN_TOKEN: ADMIN_TOKEN, KEYBRAKE_TEST_HOOKS: "1", ...vars },
  };
}

export async function startKeybrake({ vars = {}, extraWorkers = [], port, inspectorPort } = {}) {
  // Everything the Worker logs, to prove no secret is ever logged.
  const logs = [];
  const mf = new Miniflare({
    workers: [keybrakeWorkerOptions(vars), ...extraWorkers],
    ...(port !== undefined ? { port, host: "127.0.0.1" } : {}),
    // For CPU profiles of the Worker (devtools protocol); off otherwise.
    ...(inspectorPort !== undefined ? { inspectorPort } : {}),
    handleStructuredLogs: ({ level, message }) => {
      logs.push(message);
      if (process.env.KEYBRAKE_TEST_LOGS) console.error(`[workerd ${level}] ${message}`);
    },
  });
  const url = await mf.ready;
  const db = await mf.getD1Database("DB", "keybrake");
  await db.batch(migrationStatements().map((s) => db.prepare(s)));
  const client = new KeybrakeClient(mf, port !== undefined ? url : undefined);
  client.logs = logs;
  return client;
}

/** What kind of credential a token Keybrake hands out is, by its prefix. */
const TOKEN_KINDS = { kbk_: "vault key", kbi_: "issuer token", whsec_: "webhook secret" };
const kindOf = (token) => Object.entries(TOKEN_KINDS).find(([prefix]) => token.startsWith(prefix))?.[1];
/** The random part of a token: `kbk_`/`kbi_<id hex>_<secret hex><checksum>`, `whsec_<hex>`. */
const secretPart = (token) => (token.startsWith("whsec_") ? token.slice(6) : token.slice(29, 69));

export class KeybrakeClient {
  constructor(mf, url) {
    // The Miniflare running Keybrake; none for one reached over HTTP only.
    this.mf = mf;
    // The HTTP address, when started with a port (for SDKs).
    this.url = url?.toString().replace(/\/$/, "");
    // Every response body and header the tests saw, to scan for secrets.
    this.seen = [];
    // What the Worker logged (Miniflare's structured logs).
    this.logs = [];
    // Every vault key, issuer token and webhook signing secret handed out,
    // and how many responses may carry it (its creation answer: once, or
    // again for each idempotent replay).
    this.issuedTokens = new Map();
  }

  /** A client for a Keybrake reached over HTTP (`wrangler dev`): plain fetch, no Miniflare. */
  static at(url) {
    return new KeybrakeClient(null, url);
  }

  async fetch(pathname, init = {}) {
    const res = this.mf ? await this.mf.dispatchFetch(`http://keybrake.local${pathname}`, init) : await fetch(`${this.url}${pathname}`, init);
    const text = await res.text();
    this.seen.push(`${text}\n${JSON.stringify([...res.headers])}`);
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    // A creation answer carries its credential (an idempotent replay, again):
    // a key's or an issuer's `token`, a webhook's signing `secret`.
    for (const token of [json?.token, json?.secret]) {
      if (typeof token === "string" && kindOf(token)) this.issuedTokens.set(token, (this.issuedTokens.get(token) ?? 0) + 1);
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  admin(pathname, { method = "GET", body, headers = {} } = {}) {
    return this.fetch(pathname, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  /**
   * Issues a key (the defaults overridden by `overrides`) and returns it;
   * throws unless the answer is 201. `as` issues with another bearer token
   * (an issuer's) instead of the admin token; `headers` are sent too.
   */
  async issueKey(overrides = {}, { as, headers = {} } = {}) {
    const res = await this.admin("/v1/keys", {
      method: "POST",
      headers: { ...(as ? { authorization: `Bearer ${as}` } : {}), ...headers },
      body: {
        label: "test-key",
        vendor: "stripe",
        allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/*"],
        daily_usd_cap: 500,
        expires_in: "5m",
        ...overrides,
      },
    });
    if (res.status !== 201) throw new Error(`issue failed: ${res.status} ${res.text}`);
    return res.json;
  }

  proxy(token, pathname, { method = "POST", body, headers = {} } = {}) {
    return this.fetch(pathname, {
      method,
      headers: { authorization: `Bearer ${token}`, ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  /**
   * A key's state once every call on it has settled: kept calls settle just
   * after their reply, so a read right after a burst may still see them held.
   */
  settledKey(id, headers = {}, timeoutMs = 5000) {
    return eventually(() => this.admin(`/v1/keys/${id}`, { headers }), (res) => res.json?.reserved_today_usd === 0, {
      timeoutMs,
      intervalMs: 20,
      what: `key ${id} to hold no reservation`,
    });
  }

  /** Every row of a paged admin list (`data`, `next_cursor`), following the cursor. */
  async listAll(pathname, query = {}) {
    const rows = [];
    let cursor = null;
    do {
      const qs = new URLSearchParams({ ...query, ...(cursor ? { cursor } : {}) });
      const res = await this.admin(`${pathname}?${qs}`);
      if (res.status !== 200) throw new Error(`${pathname} failed: ${res.status} ${res.text}`);
      rows.push(...res.json.data);
      cursor = res.json.next_cursor;
    } while (cursor);
    return rows;
  }

  /** The audit rows matching `query` now, every page of them. */
  audit(query = {}) {
    return this.listAll("/v1/audit", { ...query, limit: "1000" });
  }

  /** Polls the audit log until `done(rows)` holds (rows reach D1 via an alarm); throws if it never does. */
  auditUntil(query, done, timeoutMs = 10_000) {
    return eventually(() => this.audit(query), done, { timeoutMs, what: `audit rows matching ${JSON.stringify(query)}` });
  }

  /**
   * Fails if any response or log line carried one of `secrets`, or a token
   * Keybrake handed out (vault key, issuer token, webhook secret) anywhere
   * but in its own creation answer.
   */
  assertNoLeaks(secrets) {
    const leaks = [];
    for (const secret of secrets) {
      if (this.seen.some((t) => t.includes(secret))) leaks.push(`a response carried ${secret.slice(0, 6)}…`);
      if (this.logs.some((l) => l.includes(secret))) leaks.push(`a log line carried ${secret.slice(0, 6)}…`);
    }
    for (const [token, answers] of this.issuedTokens) {
      const carriers = this.seen.filter((t) => t.includes(token)).length;
      const kind = kindOf(token) ?? "token";
      if (carriers > answers) leaks.push(`${kind} ${token.slice(0, 12)}… was in ${carriers} responses`);
      if (this.logs.some((l) => l.includes(token) || l.includes(secretPart(token)))) leaks.push(`a log line carried ${kind} ${token.slice(0, 12)}…`);
    }
    if (leaks.length) throw new Error(`secrets leaked:\n${leaks.join("\n")}`);
    return { responses: this.seen.length, logLines: this.logs.length, tokens: this.issuedTokens.size };
  }

  dispose() {
    return this.mf?.dispose();
  }
}
