// The brief's Workflow pattern: a key per step, issued, used and revoked in
// separate `step.do`s. Issuance carries an idempotency key derived from the
// instance, so a retried step gets the same key back instead of leaving a
// second live key behind; the charge carries one too, so Stripe does not
// charge twice. Workflows store what each step returns, so the issue step
// returns the key's id only: the charge step asks for the same key again
// (an idempotent replay answers it, token included) and the token is never
// stored.
import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep } from "cloudflare:workers";
import type { Env } from "./env";
import { keybrake } from "./keybrake";

export interface BillingParams {
  customerId: string;
  amountCents: number;
  runId: string;
  /** For the example's test: fail the issue step once, after issuing. */
  failIssueOnce?: boolean;
}

export class BillingWorkflow extends WorkflowEntrypoint<Env, BillingParams> {
  async run(event: Readonly<WorkflowEvent<BillingParams>>, step: WorkflowStep) {
    const { customerId, amountCents, runId, failIssueOnce } = event.payload;
    const kb = keybrake(this.env);
    let attempts = 0;

    // This run's key: the first call issues it, every later one answers the same key.
    const runKey = () =>
      kb.issueKey(
        {
          label: `workflow-${runId}-charge-step`,
          vendor: "stripe",
          allowed_endpoints: ["/v1/payment_intents", "/v1/payment_intents/*"],
          daily_usd_cap: 1000,
          expires_in: "10m",
        },
        { idempotencyKey: `${event.instanceId}:charge-step` },
      );

    const vaultKey = await step.do(
      "issue-vault-key",
      { retries: { limit: 3, delay: 10, backoff: "constant" } },
      async () => {
        const key = await runKey();
        attempts += 1;
        if (failIssueOnce && attempts === 1) throw new Error("lost the answer (simulated)");
        return { id: key.id };
      },
    );

    const payment = await step.do("charge-customer", async () => {
      const res = await kb.proxyFetch("stripe", "/v1/payment_intents", {
        key: await runKey(),
        method: "POST",
        headers: { "idempotency-key": `${event.instanceId}:charge` },
        body: { amount: amountCents, currency: "usd", customer: customerId },
      });
      return (await res.json()) as { id: string; amount: number; status: string };
    });

    await step.do("revoke-vault-key", async () => {
      await kb.revokeKey(vaultKey.id);
    });
    return payment;
  }
}
