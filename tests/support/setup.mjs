// One fake Stripe and one Keybrake per test file, torn down after it.
import { after, before } from "node:test";
import { startFakeStripe } from "./fake-stripe.mjs";
import { startKeybrake } from "./keybrake.mjs";

export function useKeybrake(vars = {}) {
  const ctx = {};
  before(async () => {
    ctx.stripe = await startFakeStripe();
    ctx.kb = await startKeybrake({
      vars: { STRIPE_API_BASE: ctx.stripe.url, STRIPE_SECRET_KEY: ctx.stripe.secret, ...vars },
    });
  });
  after(async () => {
    await ctx.kb?.dispose();
    await ctx.stripe?.close();
  });
  return ctx;
}

/** Requests the fake Stripe received that carried this marker in their body. */
export function received(stripe, marker) {
  return stripe.requests.filter((r) => r.body.includes(marker));
}
