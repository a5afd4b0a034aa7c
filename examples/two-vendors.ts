// Stripe and Twilio in one invocation: two keys issued in parallel, each
// with its own cap and allowlist, under one run label; both revoked at the
// end, and a failed issuance revokes the other.
import type { Env } from "./env";
import { keybrake } from "./keybrake";

export async function chargeAndNotify(request: Request, env: Env): Promise<Response> {
  const { customerId, amountCents, phone } = (await request.json()) as {
    customerId: string;
    amountCents: number;
    phone: string;
  };
  const runId = request.headers.get("x-workflow-id") ?? crypto.randomUUID();
  const kb = keybrake(env);
  return kb.withVaultKeys(
    {
      stripe: {
        label: `run-${runId}`,
        vendor: "stripe",
        allowed_endpoints: ["POST /v1/payment_intents"],
        daily_usd_cap: 100,
        expires_in: "5m",
      },
      twilio: {
        label: `run-${runId}`,
        vendor: "twilio",
        allowed_endpoints: ["POST /2010-04-01/Accounts/*/Messages.json"],
        daily_usd_cap: 1,
        expires_in: "5m",
      },
    },
    async ({ stripe, twilio }) => {
      const [payment, sms] = await Promise.all([
        kb
          .proxyFetch("stripe", "/v1/payment_intents", {
            key: stripe,
            method: "POST",
            body: { amount: amountCents, currency: "usd", customer: customerId },
          })
          .then((r) => r.json()),
        kb
          .proxyFetch("twilio", `/2010-04-01/Accounts/${twilio.account_sid}/Messages.json`, {
            key: twilio,
            method: "POST",
            body: new URLSearchParams({ To: phone, From: "+15005550006", Body: "Payment received" }),
          })
          .then((r) => r.json()),
      ]);
      return Response.json({ payment, sms });
    },
  );
}
