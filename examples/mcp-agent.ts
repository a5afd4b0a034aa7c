// An agent that reaches Stripe through Keybrake's MCP server instead of
// raw HTTP: a key for the run, an MCP client over the service binding,
// the tools the key allows, and the key revoked at the end. Any MCP host
// (an LLM loop, the `agents` package) takes the same transport.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Env } from "./env";
import { keybrake } from "./keybrake";

export async function chargeThroughMcp(request: Request, env: Env): Promise<Response> {
  const { customerId, amountCents, runId } = await request.json<{ customerId: string; amountCents: number; runId: string }>();
  const kb = keybrake(env);
  return kb.withVaultKey(
    {
      label: `mcp-agent-${runId}`,
      vendor: "stripe",
      allowed_endpoints: ["POST /v1/payment_intents", "GET /v1/payment_intents/*"],
      daily_usd_cap: 100,
      expires_in: "5m",
    },
    async (key) => {
      const client = new Client({ name: "keybrake-example-agent", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(kb.mcpUrl(key), kb.mcpOptions(key)));
      try {
        const { tools } = await client.listTools();
        const result = await client.callTool({
          name: "stripe_create_payment_intent",
          arguments: { amount: amountCents, currency: "usd", customer: customerId },
        });
        return Response.json({
          tools: tools.map((t) => t.name),
          isError: result.isError ?? false,
          payment: result.structuredContent ?? null,
          text: (result.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join("\n"),
        });
      } finally {
        await client.close();
      }
    },
  );
}
