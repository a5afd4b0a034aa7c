// Serves Keybrake (Miniflare, in-memory D1 and Durable Objects) beside the
// fake vendors on 127.0.0.1, for tools that need an HTTP address: the
// schemathesis run of scripts/fuzz.sh. Prints {"url", "admin_token"} and
// runs until killed.
import { startFakeResend } from "./fake-resend.mjs";
import { startFakeStripe } from "./fake-stripe.mjs";
import { startFakeTwilio } from "./fake-twilio.mjs";
import { ADMIN_TOKEN, startKeybrake } from "./keybrake.mjs";
import { vendorVars } from "./setup.mjs";

const [stripe, twilio, resend] = await Promise.all([startFakeStripe(), startFakeTwilio(), startFakeResend()]);
const kb = await startKeybrake({ vars: vendorVars({ stripe, twilio, resend }), port: Number(process.env.PORT ?? 0) });
console.log(JSON.stringify({ url: kb.url, admin_token: ADMIN_TOKEN }));
const stop = async () => {
  await kb.dispose();
  await Promise.all([stripe.close(), twilio.close(), resend.close()]);
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
