import type { PayoutParams } from "./approval-workflow";
import type { AgentSession } from "./session";
import type { BillingParams } from "./workflow";

/** The bindings of the example Worker (examples/wrangler.toml). */
export interface Env {
  /** Service binding to the Keybrake Worker: no public hostname needed. */
  KEYBRAKE: Fetcher;
  /** Keybrake's admin token, a Worker Secret. (Not the Stripe secret.) */
  KEYBRAKE_TOKEN: string;
  BILLING_WORKFLOW: Workflow<BillingParams>;
  PAYOUT_WORKFLOW: Workflow<PayoutParams>;
  AGENT_SESSION: DurableObjectNamespace<AgentSession>;
}
