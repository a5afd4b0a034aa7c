// The brief's Durable Object pattern: one 15-minute key per session, cached
// in the object's storage and replaced two minutes before it expires. A key
// that expired anyway (clock skew) is replaced once; a revoked key is not:
// revocation is the operator's kill switch, and a session that quietly
// issued itself a new key would defeat it.
import { DurableObject } from "cloudflare:workers";
import { durableObjectStore, KeyCache, KeyExpiredError, KeyRevokedError, type KeyPolicy } from "@keybrake/workers";
import type { Env } from "./env";
import { keybrake } from "./keybrake";

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

  /** Charges through the session's key; answers the vendor's JSON. */
  async charge(customerId: string, amountCents: number): Promise<{ status: number; keyId: string; body: unknown }> {
    for (let attempt = 0; ; attempt++) {
      const key = await this.#keys.get("stripe", this.#policy());
      try {
        const res = await this.#kb.proxyFetch("stripe", "/v1/payment_intents", {
          key,
          method: "POST",
          body: { amount: amountCents, currency: "usd", customer: customerId },
        });
        return { status: res.status, keyId: key.id, body: await res.json() };
      } catch (err) {
        if (err instanceof KeyRevokedError) {
          await this.#keys.invalidate("stripe");
        } else if (attempt === 0 && err instanceof KeyExpiredError) {
          await this.#keys.invalidate("stripe");
          continue;
        }
        throw err;
      }
    }
  }
}
