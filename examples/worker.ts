// An agent Worker that calls vendors through Keybrake over a service
// binding. Each route is one of the product brief's patterns.
import type { PayoutParams } from "./approval-workflow";
import type { Env } from "./env";
import { chargeThroughMcp } from "./mcp-agent";
import { chargeCustomer } from "./per-request";
import { chargeAndNotify } from "./two-vendors";

export { AgentSession } from "./session";
export { BillingWorkflow } from "./workflow";
export { PayoutWorkflow } from "./approval-workflow";

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    if (route === "POST /charge") return chargeCustomer(request, env);
    if (route === "POST /charge-and-notify") return chargeAndNotify(request, env);
    if (route === "POST /mcp-charge") return chargeThroughMcp(request, env);
    if (route === "POST /billing") {
      const params = await request.json<{ customerId: string; amountCents: number; runId: string; failIssueOnce?: boolean }>();
      const instance = await env.BILLING_WORKFLOW.create({ params });
      return Response.json({ id: instance.id });
    }
    if (route === "POST /payout") {
      const instance = await env.PAYOUT_WORKFLOW.create({ params: await request.json<PayoutParams>() });
      return Response.json({ id: instance.id });
    }
    const payout = url.pathname.match(/^\/payout\/([^/]+)$/);
    if (request.method === "GET" && payout) {
      const instance = await env.PAYOUT_WORKFLOW.get(payout[1]);
      return Response.json(await instance.status());
    }
    const billing = url.pathname.match(/^\/billing\/([^/]+)$/);
    if (request.method === "GET" && billing) {
      const instance = await env.BILLING_WORKFLOW.get(billing[1]);
      return Response.json(await instance.status());
    }
    const session = url.pathname.match(/^\/sessions\/([^/]+)\/charge$/);
    if (request.method === "POST" && session) {
      const { customerId, amountCents } = await request.json<{ customerId: string; amountCents: number }>();
      const stub = env.AGENT_SESSION.get(env.AGENT_SESSION.idFromName(session[1]));
      const result = await stub.charge(customerId, amountCents);
      return Response.json(result, { status: result.status === 409 ? 409 : 200 });
    }
    return new Response("not found", { status: 404 });
  },
};
