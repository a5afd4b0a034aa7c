// The example agent Worker (examples/, bundled by scripts/build-clients.sh)
// beside Keybrake in one Miniflare, bound to it by a service binding as in
// examples/wrangler.toml.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ADMIN_TOKEN } from "./keybrake.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function agentWorker(extra = {}) {
  return {
    name: "agent",
    modules: true,
    scriptPath: path.join(root, "build/examples/worker.js"),
    compatibilityDate: "2026-04-01",
    serviceBindings: { KEYBRAKE: "keybrake" },
    bindings: { KEYBRAKE_TOKEN: ADMIN_TOKEN },
    durableObjects: { AGENT_SESSION: { className: "AgentSession", useSQLite: true } },
    workflows: {
      BILLING_WORKFLOW: { name: "billing-workflow", className: "BillingWorkflow" },
      PAYOUT_WORKFLOW: { name: "payout-workflow", className: "PayoutWorkflow" },
    },
    ...extra,
  };
}

/** Calls the agent Worker (not Keybrake): `agent(kb)("/charge", {...})`. */
export function agent(kb) {
  return async (pathname, { method = "POST", body, headers = {} } = {}) => {
    const worker = await kb.mf.getWorker("agent");
    const res = await worker.fetch(`http://agent.local${pathname}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    kb.seen.push(text);
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  };
}
