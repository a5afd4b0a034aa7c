// The brief's Durable Object pattern: one 15-minute key per session, cached
// in the object's storage and replaced two minutes before it expires. A key
// that expired anyway (clock skew) is replaced once; a revoked key is not:
// revocation is the operator's kill switch, and a session that quietly
// issued itself a new key would defeat it.
import { DurableObject } from "cloudflare:workers";
import { durableObjectStore, KeyCache, KeyExpiredError, KeyRevokedError, type KeyPolicy } from "@keybrake/workers";
import type { Env } from "./env";
import { keybrake } from "./keybrake";

/** One charge of the session: Stripe's answer, or why there was none. */
export interface ChargeResult {
  status: number;
  keyId: string;
  payment?: { id: string; amount: number; status: string };
  error?: string;
  requestId?: string;
}

export class AgentSession extends DurableObject<Env> {
  readonly #kb = keybrake(this.env);
  readonly #keys = new KeyCache(this.#kb, durableObjectStore(this.ctx.storage), { marginSeconds: 120 });

  #policy(): KeyPolicy {
    return {
      label: `session-${this.ctx.id}`,
      vendor: "stripe",
      allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/*"],
      daily_usd_cap: 200,
      expires_in: "15m",
    };
  }

  /** Charges through the session's key; 409 once the key was revoked. */
  async charge(customerId: string, amountCents: number): Promise<ChargeResult> {
    for (let attempt = 0; ; attempt++) {
      const key = await this.#keys.get("stripe", this.#policy());
      try {
        const res = await this.#kb.proxyFetch("stripe", "/v1/payment_intents", {
          key,
          method: "POST",
          body: { amount: amountCents, currency: "usd", customer: customerId },
        });
        const payment = await res.json<{ id: string; amount: number; status: string }>();
        return { status: res.status, keyId: key.id, payment };
      } catch (err) {
        if (err instanceof KeyRevokedError) {
          await this.#keys.invalidate("stripe");
          return { status: 409, keyId: key.id, error: "session_revoked", requestId: err.requestId };
        }
        if (attempt === 0 && err instanceof KeyExpiredError) {
          await this.#keys.invalidate("stripe");
          continue;
        }
        throw err;
      }
    }
  }
}
