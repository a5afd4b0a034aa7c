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
    scriptPath: path.join(root, "build/index.js"),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    // KEYBRAKE_TEST_HOOKS enables the test-only clock, settlement and fault
    // switches; production configuration never sets it.
    bindings: { ...workerOptions.bindings, KEYBRAKE_ADMIN_TOKEN: ADMIN_TOKEN, KEYBRAKE_TEST_HOOKS: "1", ...vars },
  };
}

export async function startKeybrake({ vars = {}, extraWorkers = [], port } = {}) {
  const mf = new Miniflare({
    workers: [keybrakeWorkerOptions(vars), ...extraWorkers],
    ...(port !== undefined ? { port, host: "127.0.0.1" } : {}),
  });
  const url = await mf.ready;
  const db = await mf.getD1Database("DB", "keybrake");
  await db.batch(migrationStatements().map((s) => db.prepare(s)));
  return new KeybrakeClient(mf, port !== undefined ? url : undefined);
}

export class KeybrakeClient {
  constructor(mf, url) {
    this.mf = mf;
    // The HTTP address, when started with a port (for SDKs).
    this.url = url?.toString().replace(/\/$/, "");
    // Every response body and header the tests saw, to scan for secrets.
    this.seen = [];
  }

  async fetch(pathname, init = {}) {
    const res = await this.mf.dispatchFetch(`http://keybrake.local${pathname}`, init);
    const text = await res.text();
    this.seen.push(text, JSON.stringify([...res.headers]));
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
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

  dispose() {
    return this.mf.dispose();
  }
}
