// A client for Keybrake from Workers, Workflows and Durable Objects: over a
// service binding (`new Keybrake({ binding: env.KEYBRAKE })`) or a URL
// (`new Keybrake({ baseUrl, token })`). It covers the whole management API
// (keys, approvals, issuers, budgets, usage, audit, webhooks), calls vendors
// through the proxy, and turns Keybrake's error codes into error classes.
import { errorFor, KeybrakeError } from "./errors.js";
import type { components, operations } from "./openapi.js";

export * from "./errors.js";
export { KeyCache, type KeyStore, durableObjectStore, kvStore } from "./cache.js";

export type Vendor = components["schemas"]["Vendor"];

/** Anything with a `fetch`: a service binding, or the global fetch. */
export interface Fetcher {
  fetch(input: Request | string, init?: RequestInit): Promise<Response>;
}

/**
 * The bindings an agent Worker needs to reach Keybrake. In its
 * `wrangler.toml`:
 *
 * ```toml
 * services = [{ binding = "KEYBRAKE", service = "keybrake" }]
 * # and: wrangler secret put KEYBRAKE_TOKEN   (an issuer token, or the admin token)
 * ```
 *
 * Extend it with the Worker's own bindings: `interface Env extends KeybrakeEnv { … }`.
 */
export interface KeybrakeEnv {
  /** Service binding to the Keybrake Worker: no public hostname needed. */
  KEYBRAKE: Fetcher;
  /** A Worker Secret: an issuer token (`kbi_…`) or the admin token. Never a vendor secret. */
  KEYBRAKE_TOKEN: string;
}

/** The client for a Worker bound as `KeybrakeEnv` describes. */
export function fromEnv(env: KeybrakeEnv): Keybrake {
  return new Keybrake({ binding: env.KEYBRAKE, token: env.KEYBRAKE_TOKEN });
}

export type KeybrakeOptions =
  | {
      /** A service binding to the Keybrake Worker (`env.KEYBRAKE`). */
      binding: Fetcher;
      /** The admin token; over a binding it may still be required. */
      token?: string;
    }
  | {
      /** Where Keybrake is served, e.g. `https://keybrake.example.com`. */
      baseUrl: string;
      /** The admin token (`KEYBRAKE_ADMIN_TOKEN`), for the management API. */
      token?: string;
      /** Defaults to the global `fetch`. */
      fetch?: typeof fetch;
    };

// The shapes of requests and answers are the OpenAPI document's own,
// generated into ./openapi.ts; the names below are what callers import.
type Schemas = components["schemas"];

/** What a vault key may do: `POST /v1/keys`' body. */
export type KeyPolicy = Schemas["NewKey"];
/** Limits on the calls' arguments and the key's life (README, Constraints). */
export type Constraints = Schemas["Constraints"];
/** `PATCH /v1/keys/{id}`: what to change on a live key. */
export type KeyChange = Schemas["KeyChange"];
export type Approval = Schemas["Approval"];
export type ApprovalStatus = Approval["status"];
export type Webhook = Schemas["Webhook"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type VaultKeyInfo = Schemas["Key"];
/** An issued key: `token` is the vault key itself, shown once. */
export type IssuedKey = Schemas["IssuedKey"];
/** A key with its live spend for today. */
export type KeyState = Schemas["KeyState"];
export type AuditEntry = Schemas["AuditEntry"];
/** What an issuer token may issue: vendors, endpoints, caps, lifetimes. */
export type Ceilings = Schemas["Ceilings"];
/** `POST /v1/issuers`' body: a label, ceilings, and optionally the token's lifetime. */
export type NewIssuer = Schemas["NewIssuer"];
export type Issuer = Schemas["Issuer"];
/** A created issuer: `token` (`kbi_…`) is shown once. */
export type IssuedIssuer = Schemas["IssuedIssuer"];
/** `POST /v1/budgets`' body: creates or replaces the budget of a vendor (and label prefix). */
export type BudgetSpec = NonNullable<operations["setBudget"]["requestBody"]>["content"]["application/json"];
export type Budget = Schemas["Budget"];
/** `GET /v1/usage`: calls and spend per group, largest spend first, and the total. */
export type Usage = operations["getUsage"]["responses"][200]["content"]["application/json"];
export type UsageRow = Usage["data"][number];

export interface IssueOptions {
  /**
   * Issuing again with the same idempotency key returns the same key (and
   * token) instead of a second one: a retried Workflow step leaves one live
   * key behind. Reusing it with a different policy is an
   * `IdempotencyConflictError`.
   */
  idempotencyKey?: string;
}

export interface ApprovalQuery {
  status?: ApprovalStatus;
  key_id?: string;
  label_prefix?: string;
  limit?: number;
  cursor?: string;
}

export interface KeyFilter {
  vendor?: Vendor;
  label_prefix?: string;
}

export interface KeyQuery extends KeyFilter {
  status?: "active" | "paused" | "revoked" | "expired";
  limit?: number;
  cursor?: string;
}

export interface AuditQuery {
  key_id?: string;
  label?: string;
  label_prefix?: string;
  vendor?: Vendor;
  decision?: "allowed" | "denied";
  /** Epoch ms, RFC 3339, or a Date. */
  since?: number | string | Date;
  until?: number | string | Date;
  limit?: number;
  cursor?: string;
}

export interface UsageQuery {
  /** `key` (the default), `label`, `vendor` or `day` (UTC). */
  group_by?: NonNullable<operations["getUsage"]["parameters"]["query"]>["group_by"];
  /** Epoch ms, RFC 3339, or a Date; default: today's UTC midnight. */
  since?: number | string | Date;
  /** Exclusive; default: now. */
  until?: number | string | Date;
  vendor?: Vendor;
  label_prefix?: string;
  key_id?: string;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** An issued key, or its token alone. */
export type KeyRef = Pick<IssuedKey, "token" | "vendor"> | string;

export interface ProxyInit extends Omit<RequestInit, "body"> {
  /** A body as `fetch` takes it, or a plain object to send as JSON. */
  body?: BodyInit | null | Record<string, unknown>;
  /** The vault key to send (an issued key, or its token). */
  key: KeyRef;
  /**
   * Keybrake's own refusals (cap, allowlist, revoked…) throw the matching
   * error; the vendor's answers, errors included, come back as responses.
   * Set `false` to get Keybrake's refusals as responses too.
   */
  throwOnDenial?: boolean;
}

const INTERNAL_ORIGIN = "https://keybrake.internal";

export class Keybrake {
  readonly #fetcher: Fetcher;
  readonly #origin: string;
  readonly #token?: string;

  constructor(options: KeybrakeOptions) {
    if ("binding" in options) {
      if (!options.binding || typeof options.binding.fetch !== "function") {
        throw new TypeError("Keybrake: `binding` must be a service binding (env.KEYBRAKE)");
      }
      this.#fetcher = options.binding;
      // A service binding ignores the host; any origin will do.
      this.#origin = INTERNAL_ORIGIN;
    } else {
      if (!options.baseUrl) throw new TypeError("Keybrake: give `binding` or `baseUrl`");
      const f = options.fetch ?? fetch;
      this.#fetcher = { fetch: (input, init) => f(input, init) };
      this.#origin = options.baseUrl.replace(/\/+$/, "");
    }
    this.#token = options.token;
  }

  /** Issues a vault key. */
  async issueKey(policy: KeyPolicy, options: IssueOptions = {}): Promise<IssuedKey> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    return this.#admin<IssuedKey>("POST", "/v1/keys", policy, headers);
  }

  /** A key with its live spend for today. */
  getKey(id: string): Promise<KeyState> {
    return this.#admin<KeyState>("GET", `/v1/keys/${encodeURIComponent(id)}`);
  }

  /** A page of keys, newest first. */
  listKeys(query: KeyQuery = {}): Promise<Page<VaultKeyInfo>> {
    return this.#admin<Page<VaultKeyInfo>>("GET", `/v1/keys${search(query)}`);
  }

  /** Revokes a key (idempotent): no call that starts after this returns gets through. */
  revokeKey(id: string): Promise<VaultKeyInfo> {
    return this.#admin<VaultKeyInfo>("DELETE", `/v1/keys/${encodeURIComponent(id)}`);
  }

  /** Changes a live key's caps, expiry or constraints, exactly against the calls in flight. */
  updateKey(id: string, change: KeyChange): Promise<KeyState> {
    return this.#admin<KeyState>("PATCH", `/v1/keys/${encodeURIComponent(id)}`, change);
  }

  /** Pauses a key: its calls are refused (`KeyPausedError`, 423) until it is resumed. */
  pauseKey(id: string): Promise<KeyState> {
    return this.#admin<KeyState>("POST", `/v1/keys/${encodeURIComponent(id)}/pause`);
  }

  /** Resumes a paused key, with the spend it had. */
  resumeKey(id: string): Promise<KeyState> {
    return this.#admin<KeyState>("POST", `/v1/keys/${encodeURIComponent(id)}/resume`);
  }

  /** Approvals: the calls waiting for a person. */
  readonly approvals = {
    /** A page of approvals, newest first. */
    list: (query: ApprovalQuery = {}): Promise<Page<Approval>> =>
      this.#admin<Page<Approval>>("GET", `/v1/approvals${search(query)}`),
    /** One approval; with `waitSeconds`, answered once decided (at most that long). */
    get: (id: string, waitSeconds = 0): Promise<Approval> =>
      this.#admin<Approval>("GET", `/v1/approvals/${encodeURIComponent(id)}${waitSeconds ? `?wait=${waitSeconds}` : ""}`),
    approve: (id: string, note?: string): Promise<Approval> =>
      this.#admin<Approval>("POST", `/v1/approvals/${encodeURIComponent(id)}/approve`, note === undefined ? {} : { note }),
    deny: (id: string, note?: string): Promise<Approval> =>
      this.#admin<Approval>("POST", `/v1/approvals/${encodeURIComponent(id)}/deny`, note === undefined ? {} : { note }),
  };

  /**
   * Waits until a person decides approval `id` (or it expires), and answers
   * it as decided: `approved` means the same request may now be repeated.
   * Still `pending` after `timeoutMs` (default 60 s).
   */
  async waitForApproval(id: string, { timeoutMs = 60_000 }: { timeoutMs?: number } = {}): Promise<Approval> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
      const approval = await this.approvals.get(id, Math.min(left, 60));
      if (approval.status !== "pending" || Date.now() >= deadline || left === 0) return approval;
    }
  }

  /** Webhook endpoints (admin). The secret is in `create`'s answer only. */
  readonly webhooks = {
    create: (hook: Schemas["NewWebhook"]): Promise<Webhook & { secret: string }> =>
      this.#admin<Webhook & { secret: string }>("POST", "/v1/webhooks", hook),
    list: (): Promise<{ data: Webhook[] }> => this.#admin<{ data: Webhook[] }>("GET", "/v1/webhooks"),
    /** An endpoint with its latest deliveries. */
    get: (id: string): Promise<Webhook & { deliveries: WebhookDelivery[] }> =>
      this.#admin<Webhook & { deliveries: WebhookDelivery[] }>("GET", `/v1/webhooks/${encodeURIComponent(id)}`),
    delete: (id: string): Promise<Webhook> => this.#admin<Webhook>("DELETE", `/v1/webhooks/${encodeURIComponent(id)}`),
  };

  /**
   * Issuer tokens (admin): scoped tokens an agent's Worker holds instead of
   * the admin token, to issue keys only inside their ceilings.
   */
  readonly issuers = {
    /** Creates an issuer; its `token` is in this answer only. */
    create: (issuer: NewIssuer): Promise<IssuedIssuer> => this.#admin<IssuedIssuer>("POST", "/v1/issuers", issuer),
    list: (): Promise<{ data: Issuer[] }> => this.#admin<{ data: Issuer[] }>("GET", "/v1/issuers"),
    /** An issuer with `live_keys`, the keys it issued that still work. */
    get: (id: string): Promise<Issuer> => this.#admin<Issuer>("GET", `/v1/issuers/${encodeURIComponent(id)}`),
    /** Its token is refused at once and every live key it issued is revoked (`revoked_keys`). */
    revoke: (id: string): Promise<Issuer> => this.#admin<Issuer>("DELETE", `/v1/issuers/${encodeURIComponent(id)}`),
  };

  /** Account-wide daily budgets per vendor and label prefix (admin), exact across all their keys. */
  readonly budgets = {
    /** Creates the budget of `vendor` (and `label_prefix`), or sets its cap; it binds live keys it covers (`attached_keys`). */
    set: (budget: BudgetSpec): Promise<Budget> => this.#admin<Budget>("POST", "/v1/budgets", budget),
    list: (): Promise<{ data: Budget[] }> => this.#admin<{ data: Budget[] }>("GET", "/v1/budgets"),
    /** A budget with `leased_today_usd`, an upper bound on what its keys spent today. */
    get: (id: string): Promise<Budget> => this.#admin<Budget>("GET", `/v1/budgets/${encodeURIComponent(id)}`),
    /** Its keys are no longer bound by it. */
    delete: (id: string): Promise<Budget> => this.#admin<Budget>("DELETE", `/v1/budgets/${encodeURIComponent(id)}`),
  };

  /** Calls and spend grouped by key, label, vendor or UTC day, summed from the audit log. */
  usage(query: UsageQuery = {}): Promise<Usage> {
    const q = { ...query, since: when(query.since), until: when(query.until) };
    return this.#admin<Usage>("GET", `/v1/usage${search(q)}`);
  }

  /**
   * Keybrake's MCP endpoint (`/mcp`), for an MCP client acting with `key`:
   * `new StreamableHTTPClientTransport(kb.mcpUrl(key), kb.mcpOptions(key))`.
   */
  mcpUrl(key: KeyRef): URL {
    void key;
    return new URL(`${this.#origin}/mcp`);
  }

  /** The transport options that reach `mcpUrl` with `key` (over the service binding when there is one). */
  mcpOptions(key: KeyRef): { requestInit: RequestInit; fetch: typeof fetch } {
    const token = typeof key === "string" ? key : key.token;
    const fetcher = this.#fetcher;
    return {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: ((input: RequestInfo | URL, init?: RequestInit) => fetcher.fetch(input instanceof URL ? input.toString() : input, init)) as typeof fetch,
    };
  }

  /** Revokes every outstanding key, or those matching the filter. */
  revokeAll(filter: KeyFilter = {}): Promise<{ revoked: number }> {
    return this.#admin<{ revoked: number }>("POST", "/v1/keys/revoke-all", filter);
  }

  /** A page of the audit log, newest first. */
  audit(query: AuditQuery = {}): Promise<Page<AuditEntry>> {
    const q = { ...query, since: when(query.since), until: when(query.until) };
    return this.#admin<Page<AuditEntry>>("GET", `/v1/audit${search(q)}`);
  }

  /** Every audit entry matching the query, following the cursor. */
  async *auditAll(query: Omit<AuditQuery, "cursor"> = {}): AsyncGenerator<AuditEntry> {
    let cursor: string | undefined;
    do {
      const page = await this.audit({ ...query, cursor });
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /**
   * Calls a vendor through Keybrake with a vault key:
   * `proxyFetch("stripe", "/v1/payment_intents", { key, method: "POST", body })`.
   */
  async proxyFetch(vendor: Vendor, path: string, init: ProxyInit): Promise<Response> {
    const { key, throwOnDenial = true, ...rest } = init;
    const token = typeof key === "string" ? key : key.token;
    if (typeof key !== "string" && key.vendor !== vendor) {
      throw new TypeError(`Keybrake: this key is for ${key.vendor}, not ${vendor}`);
    }
    if (!path.startsWith("/")) throw new TypeError("Keybrake: the vendor path must start with /");
    const headers = new Headers(rest.headers);
    headers.set("authorization", `Bearer ${token}`);
    const body = rest.body;
    if (isPlainObject(body)) {
      // A plain object is sent as JSON; Keybrake re-encodes it for vendors
      // that take forms (Stripe, Twilio).
      headers.set("content-type", "application/json");
    }
    const res = await this.#fetcher.fetch(`${this.#origin}/${vendor}${path}`, {
      ...rest,
      headers,
      body: isPlainObject(body) ? JSON.stringify(body) : body,
    });
    const code = res.headers.get("keybrake-error-code");
    if (code && throwOnDenial) {
      const denial = parseDenial(await res.text());
      throw errorFor(code, {
        status: res.status,
        message: denial.message ?? res.statusText,
        param: denial.param,
        requestId: res.headers.get("keybrake-request-id") ?? undefined,
        keyId: res.headers.get("keybrake-key-id") ?? undefined,
        approvalId: res.headers.get("keybrake-approval-id") ?? undefined,
      });
    }
    return res;
  }

  /** A key-bound `fetch` for one vendor: `vendorFetch(key)("/v1/customers")`. */
  vendorFetch(key: IssuedKey): (path: string, init?: Omit<ProxyInit, "key">) => Promise<Response> {
    return (path, init = {}) => this.proxyFetch(key.vendor, path, { ...init, key });
  }

  /**
   * Issues a key, runs `fn` with it, and revokes it whatever happens. A
   * failed revocation is reported to `onRevokeError` (the key still dies
   * at its TTL) and does not hide `fn`'s own result or error.
   */
  async withVaultKey<T>(
    policy: KeyPolicy,
    fn: (key: IssuedKey) => Promise<T>,
    options: IssueOptions & { onRevokeError?: (err: unknown) => void } = {},
  ): Promise<T> {
    const key = await this.issueKey(policy, options);
    try {
      return await fn(key);
    } finally {
      await this.revokeKey(key.id).catch(options.onRevokeError ?? warn);
    }
  }

  /**
   * Issues several keys in parallel (`{ stripe: policy, twilio: policy }`),
   * runs `fn` with them, and revokes them all. If any issuance fails, the
   * keys already issued are revoked before the error is thrown.
   */
  async withVaultKeys<P extends Record<string, KeyPolicy>, T>(
    policies: P,
    fn: (keys: { [K in keyof P]: IssuedKey }) => Promise<T>,
    options: { onRevokeError?: (err: unknown) => void } = {},
  ): Promise<T> {
    const names = Object.keys(policies) as (keyof P)[];
    const settled = await Promise.allSettled(names.map((n) => this.issueKey(policies[n])));
    const issued = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const revokeAll = () =>
      Promise.all(issued.map((k) => this.revokeKey(k.id).catch(options.onRevokeError ?? warn)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) {
      await revokeAll();
      throw failed.reason;
    }
    const keys = Object.fromEntries(names.map((n, i) => [n, issued[i]])) as { [K in keyof P]: IssuedKey };
    try {
      return await fn(keys);
    } finally {
      await revokeAll();
    }
  }

  async #admin<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { ...extra };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.#fetcher.fetch(`${this.#origin}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed ?? {}) as { code?: string; message?: string; param?: string };
      throw errorFor(err.code ?? "internal_error", {
        status: res.status,
        message: err.message ?? `Keybrake answered ${res.status}`,
        param: err.param,
        requestId: res.headers.get("keybrake-request-id") ?? undefined,
      });
    }
    if (parsed === undefined) {
      throw new KeybrakeError("internal_error", { status: res.status, message: "Keybrake answered without a JSON body" });
    }
    return parsed as T;
  }
}

function search(query: object): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null) params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

function when(t: number | string | Date | undefined): string | number | undefined {
  return t instanceof Date ? t.getTime() : t;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** The message and field of a refusal, whichever vendor shape it came in. */
function parseDenial(text: string): { message?: string; param?: string } {
  try {
    const body = JSON.parse(text);
    return { message: body?.error?.message ?? body?.message, param: body?.error?.param ?? body?.param };
  } catch {
    return {};
  }
}

function warn(err: unknown): void {
  console.warn(`Keybrake: revocation failed (the key still expires at its TTL): ${err}`);
}

/** An event Keybrake delivers to a webhook endpoint. */
export interface WebhookEvent {
  /** `evt_…`: the same on every retry of this event, for de-duplication. */
  id: string;
  type:
    | "approval.requested"
    | "key.spend_threshold"
    | "key.revoked"
    | "key.denied_burst"
    | "budget.spend_threshold"
    | "issuer.revoked";
  created: string;
  key_id?: string;
  label?: string | null;
  vendor?: string;
  issuer_id?: string | null;
  data: Record<string, unknown>;
}

/** A delivery whose signature or timestamp does not check out. */
export class WebhookSignatureError extends Error {}

const encoder = new TextEncoder();

function hexBytes(hex: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) return undefined;
  return Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
}

/**
 * Checks a webhook delivery's `Keybrake-Signature` (`t=…,v1=…`: HMAC-SHA256
 * of `t.body` under the endpoint's secret) and that it was signed within
 * `toleranceSeconds` (default 300), then answers the event. Throws
 * `WebhookSignatureError` otherwise. Reads the request's body.
 */
export async function verifyWebhook(
  request: Request,
  secret: string,
  { toleranceSeconds = 300, now = Date.now() }: { toleranceSeconds?: number; now?: number } = {},
): Promise<WebhookEvent> {
  const header = request.headers.get("keybrake-signature");
  if (!header) throw new WebhookSignatureError("no Keybrake-Signature header");
  let t: number | undefined;
  const signatures: Uint8Array[] = [];
  for (const part of header.split(",")) {
    const [name, value = ""] = part.trim().split("=", 2);
    if (name === "t" && /^\d+$/.test(value)) t = Number(value);
    const bytes = name === "v1" ? hexBytes(value) : undefined;
    if (bytes) signatures.push(bytes);
  }
  if (t === undefined || signatures.length === 0) throw new WebhookSignatureError("malformed Keybrake-Signature header");
  if (Math.abs(now / 1000 - t) > toleranceSeconds) throw new WebhookSignatureError("the signature's timestamp is outside the tolerance");
  const body = await request.text();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const signed = encoder.encode(`${t}.${body}`);
  for (const sig of signatures) {
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify("HMAC", key, sig, signed)) return JSON.parse(body) as WebhookEvent;
  }
  throw new WebhookSignatureError("no signature matches this endpoint's secret");
}
