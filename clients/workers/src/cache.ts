// Reusing one vault key across many requests of a session (the product
// brief's Durable Object pattern): a key is kept until it is within a safety
// margin of its expiry, then replaced. An expired key is never handed out.
import type { IssuedKey, Keybrake, KeyPolicy } from "./index.js";

/** Where cached keys live: Durable Object storage or KV. */
export interface KeyStore {
  get(name: string): Promise<Cached | undefined>;
  put(name: string, value: Cached): Promise<void>;
  delete(name: string): Promise<void>;
}

interface Cached {
  key: IssuedKey;
  /** The policy the key was issued for: a changed policy means a new key. */
  policy: string;
}

/** The subset of `DurableObjectStorage` the cache uses. */
export interface DurableObjectStorageLike {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<boolean>;
}

/** The subset of `KVNamespace` the cache uses. */
export interface KVNamespaceLike {
  get(key: string, type: "json"): Promise<unknown>;
  put(key: string, value: string, options?: { expiration?: number }): Promise<void>;
  delete(key: string): Promise<void>;
}

export function durableObjectStore(storage: DurableObjectStorageLike, prefix = "keybrake:"): KeyStore {
  return {
    get: (name) => storage.get<Cached>(prefix + name),
    put: (name, value) => storage.put(prefix + name, value),
    delete: async (name) => {
      await storage.delete(prefix + name);
    },
  };
}

/**
 * KV is eventually consistent across locations: two isolates may each
 * issue a key for the same name. Each is still capped and expires; prefer
 * Durable Object storage when one key per name matters.
 */
export function kvStore(kv: KVNamespaceLike, prefix = "keybrake:"): KeyStore {
  return {
    get: async (name) => ((await kv.get(prefix + name, "json")) as Cached | null) ?? undefined,
    put: async (name, value) => {
      // KV drops the entry itself once the key is dead (it needs ≥ 60 s).
      const expiration = Math.floor(value.key.expiresAt / 1000);
      const options = expiration - Date.now() / 1000 >= 60 ? { expiration } : {};
      await kv.put(prefix + name, JSON.stringify(value), options);
    },
    delete: (name) => kv.delete(prefix + name),
  };
}

export interface KeyCacheOptions {
  /** Replace a key this long before it expires (default 60 s). */
  marginSeconds?: number;
}

export class KeyCache {
  readonly #kb: Keybrake;
  readonly #store: KeyStore;
  readonly #marginMs: number;
  /** Issuances in flight, so concurrent callers share one key. */
  readonly #pending = new Map<string, Promise<IssuedKey>>();

  constructor(kb: Keybrake, store: KeyStore, options: KeyCacheOptions = {}) {
    this.#kb = kb;
    this.#store = store;
    this.#marginMs = (options.marginSeconds ?? 60) * 1000;
  }

  /**
   * The cached key for `name`, or a new one issued with `policy` when there
   * is none, it is within the margin of its expiry, or the policy changed.
   */
  async get(name: string, policy: KeyPolicy): Promise<IssuedKey> {
    const fingerprint = JSON.stringify(policy);
    const cached = await this.#store.get(name);
    if (cached && cached.policy === fingerprint && cached.key.expiresAt - this.#marginMs > Date.now()) {
      return cached.key;
    }
    const inFlight = this.#pending.get(name);
    if (inFlight) return inFlight;
    const issuing = (async () => {
      const key = await this.#kb.issueKey(policy);
      if (key.expiresAt - this.#marginMs <= Date.now()) {
        // A TTL shorter than the margin would be replaced on every call.
        await this.#kb.revokeKey(key.id).catch(() => {});
        throw new RangeError(`KeyCache: expires_in must be longer than the ${this.#marginMs / 1000} s margin`);
      }
      await this.#store.put(name, { key, policy: fingerprint });
      return key;
    })();
    this.#pending.set(name, issuing);
    try {
      return await issuing;
    } finally {
      this.#pending.delete(name);
    }
  }

  /**
   * Forgets the key for `name` (after a `KeyRevokedError`, say), and with
   * `{ revoke: true }` revokes it too.
   */
  async invalidate(name: string, options: { revoke?: boolean } = {}): Promise<void> {
    const cached = await this.#store.get(name);
    await this.#store.delete(name);
    if (cached && options.revoke) await this.#kb.revokeKey(cached.key.id);
  }
}
