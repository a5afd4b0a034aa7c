// One set of fake vendors and one Keybrake per test file, torn down after it.
import { after, before } from "node:test";
import { startFakeResend } from "./fake-resend.mjs";
import { startFakeStripe } from "./fake-stripe.mjs";
import { startFakeTwilio } from "./fake-twilio.mjs";
import { ADMIN_TOKEN, startKeybrake } from "./keybrake.mjs";

/** Worker vars pointing Keybrake at the fakes, with their secrets. */
export function vendorVars({ stripe, twilio, resend }) {
  return {
    STRIPE_API_BASE: stripe.url,
    STRIPE_SECRET_KEY: stripe.secret,
    TWILIO_API_BASE: twilio.url,
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    RESEND_API_BASE: resend.url,
    RESEND_API_KEY: resend.apiKey,
  };
}

export function useKeybrake(vars = {}, options = {}) {
  const ctx = {};
  before(async () => {
    [ctx.stripe, ctx.twilio, ctx.resend] = await Promise.all([startFakeStripe(), startFakeTwilio(), startFakeResend()]);
    ctx.kb = await startKeybrake({ vars: { ...vendorVars(ctx), ...vars }, ...options });
  });
  after(async () => {
    // Secrets stay secret across every test of the file.
    ctx.kb?.assertNoLeaks(vendorSecrets(ctx));
    await ctx.kb?.dispose();
    await Promise.all([ctx.stripe?.close(), ctx.twilio?.close(), ctx.resend?.close()]);
  });
  return ctx;
}

/** Every secret the fakes hold, and the admin token. */
export function vendorSecrets({ stripe, twilio, resend }) {
  return [stripe.secret, twilio.authToken, resend.apiKey, ADMIN_TOKEN];
}

/** Requests a fake vendor received that carried this marker in their body. */
export function received(fake, marker) {
  return fake.requests.filter((r) => r.body.includes(marker));
}
