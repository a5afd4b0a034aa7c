import type { KeybrakeEnv } from "@keybrake/workers";
import type { PayoutParams } from "./approval-workflow";
import type { AgentSession } from "./session";
import type { BillingParams } from "./workflow";

/** The bindings of the example Worker (examples/wrangler.toml): Keybrake's
 * (the service binding and the token) and its own. */
export interface Env extends KeybrakeEnv {
  BILLING_WORKFLOW: Workflow<BillingParams>;
  PAYOUT_WORKFLOW: Workflow<PayoutParams>;
  AGENT_SESSION: DurableObjectNamespace<AgentSession>;
}
