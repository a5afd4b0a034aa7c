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

/** The fakes' variables overridden by `vars`; a value of `undefined` leaves that variable out. */
function withVars(ctx, vars) {
  return Object.fromEntries(Object.entries({ ...vendorVars(ctx), ...vars }).filter(([, v]) => v !== undefined));
}

/**
 * Fake vendors and a Keybrake pointed at them for the test file (or the
 * `describe` it is called in), torn down after it with a scan for leaked
 * secrets. `vars` override the fakes' variables (`undefined` leaves one
 * out); `options` go to startKeybrake (`extraWorkers`, `port`, …).
 */
export function useKeybrake(vars = {}, options = {}) {
  const ctx = {};
  before(async () => {
    [ctx.stripe, ctx.twilio, ctx.resend] = await Promise.all([startFakeStripe(), startFakeTwilio(), startFakeResend()]);
    ctx.kb = await startKeybrake({ ...options, vars: withVars(ctx, vars) });
  });
  after(async () => {
    try {
      // Secrets stay secret across every test of the file.
      ctx.kb?.assertNoLeaks(vendorSecrets(ctx));
    } finally {
      await ctx.kb?.dispose();
      await Promise.all([ctx.stripe?.close(), ctx.twilio?.close(), ctx.resend?.close()]);
    }
  });
  return ctx;
}

/**
 * Runs `fn(kb)` against a Keybrake of its own, started with the file's fake
 * vendors' variables overridden by `vars` (`undefined` leaves one out, for
 * a missing secret) and `options` for startKeybrake. Afterwards, whatever
 * `fn` did, it scans everything that Keybrake answered and logged for leaked
 * secrets and disposes of it: a leak fails the test even when `fn` passed;
 * when `fn` threw, its error is the one thrown.
 */
export async function withKeybrake(ctx, vars, fn, options = {}) {
  const kb = await startKeybrake({ ...options, vars: withVars(ctx, vars) });
  let threw = false;
  let error;
  let result;
  try {
    result = await fn(kb);
  } catch (e) {
    [threw, error] = [true, e];
  }
  try {
    kb.assertNoLeaks(vendorSecrets(ctx));
  } catch (leak) {
    if (!threw) [threw, error] = [true, leak];
    else if (error instanceof Error) error.message += `\n(and the leak scan failed too: ${leak.message})`;
  } finally {
    await kb.dispose();
  }
  if (threw) throw error;
  return result;
}

/** Every secret the fakes hold, and the admin token. */
export function vendorSecrets({ stripe, twilio, resend }) {
  return [stripe.secret, twilio.authToken, resend.apiKey, ADMIN_TOKEN];
}

/** Requests a fake vendor received that carried this marker in their body. */
export function received(fake, marker) {
  return fake.requests.filter((r) => r.body.includes(marker));
}
