// Runs the built Keybrake Worker (build/) in Miniflare with the bindings from
// wrangler.toml: real Durable Objects and a real D1 database, in memory.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

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

export class KeybrakeClient {
  constructor(mf, url) {
    this.mf = mf;
    // The HTTP address, when started with a port (for SDKs).
    this.url = url?.toString().replace(/\/$/, "");
    // Every response body and header the tests saw, to scan for secrets.
    this.seen = [];
    // Every vault key issued, and how many responses may carry it (its
    // issuance answers: once, or again for each idempotent replay).
    this.issuedTokens = new Map();
  }

  async fetch(pathname, init = {}) {
    const res = await this.mf.dispatchFetch(`http://keybrake.local${pathname}`, init);
    const text = await res.text();
    this.seen.push(`${text}\n${JSON.stringify([...res.headers])}`);
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    // An issuance answer may carry its token (an idempotent replay, again).
    if (typeof json?.token === "string" && json.token.startsWith("kbk_")) {
      this.issuedTokens.set(json.token, (this.issuedTokens.get(json.token) ?? 0) + 1);
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

  async issueKey(overrides = {}) {
    const res = await this.admin("/v1/keys", {
      method: "POST",
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
  async settledKey(id, headers = {}, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.admin(`/v1/keys/${id}`, { headers });
      if (res.json?.reserved_today_usd === 0 || Date.now() > deadline) return res;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Polls the audit log until `done(rows)` holds (rows reach D1 via an alarm). */
  async auditUntil(query, done, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    let rows = [];
    for (;;) {
      rows = [];
      let cursor = null;
      do {
        const qs = new URLSearchParams({ ...query, limit: "1000", ...(cursor ? { cursor } : {}) });
        const res = await this.admin(`/v1/audit?${qs}`);
        if (res.status !== 200) throw new Error(`audit failed: ${res.status} ${res.text}`);
        rows.push(...res.json.data);
        cursor = res.json.next_cursor;
      } while (cursor);
      if (done(rows)) return rows;
      if (Date.now() > deadline) return rows;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Fails if any response or log line carried one of `secrets`, or a vault
   * key anywhere but in its own issuance answer.
   */
  assertNoLeaks(secrets) {
    const leaks = [];
    for (const secret of secrets) {
      if (this.seen.some((t) => t.includes(secret))) leaks.push(`a response carried ${secret.slice(0, 6)}…`);
      if (this.logs.some((l) => l.includes(secret))) leaks.push(`a log line carried ${secret.slice(0, 6)}…`);
    }
    for (const [token, answers] of this.issuedTokens) {
      const carriers = this.seen.filter((t) => t.includes(token)).length;
      if (carriers > answers) leaks.push(`vault key ${token.slice(0, 12)}… was in ${carriers} responses`);
      if (this.logs.some((l) => l.includes(token) || l.includes(token.slice(29, 69)))) leaks.push(`a log line carried vault key ${token.slice(0, 12)}…`);
    }
    if (leaks.length) throw new Error(`secrets leaked:\n${leaks.join("\n")}`);
    return { responses: this.seen.length, logLines: this.logs.length, tokens: this.issuedTokens.size };
  }

  dispose() {
    return this.mf.dispose();
  }
}
