// The brief's first pattern: one vault key per request, revoked when the
// request ends. `withVaultKey` issues, runs and always revokes.
import { CapExhaustedError } from "@keybrake/workers";
import type { Env } from "./env";
import { keybrake } from "./keybrake";

export async function chargeCustomer(request: Request, env: Env): Promise<Response> {
  const { customerId, amountCents } = (await request.json()) as { customerId: string; amountCents: number };
  const runId = request.headers.get("x-workflow-id") ?? crypto.randomUUID();
  const kb = keybrake(env);
  const policy = {
    label: `workers-charge-${runId}`,
    vendor: "stripe",
    allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/*"],
    daily_usd_cap: 500,
    expires_in: "5m",
  } as const;
  try {
    return await kb.withVaultKey({ ...policy, allowed_endpoints: [...policy.allowed_endpoints] }, async (key) => {
      const res = await kb.proxyFetch("stripe", "/v1/payment_intents", {
        key,
        method: "POST",
        body: { amount: amountCents, currency: "usd", customer: customerId },
      });
      // The vendor's own answer, errors included, passes through as is.
      return new Response(res.body, { status: res.status, headers: { "content-type": "application/json" } });
    });
  } catch (err) {
    if (err instanceof CapExhaustedError) {
      return Response.json({ error: "spend_cap_exceeded", request_id: err.requestId }, { status: 402 });
    }
    throw err;
  }
}
