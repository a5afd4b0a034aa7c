// A Workflow whose big payments wait for a person. The key asks for
// approval above $100: the first attempt answers ApprovalRequiredError,
// the Workflow sleeps between checks (a sleeping Workflow costs nothing),
// and once approved it repeats the same request, which Keybrake forwards
// once, on the cost it already holds. A denial or expiry ends the run.
import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep } from "cloudflare:workers";
import { ApprovalRequiredError } from "@keybrake/workers";
import type { Env } from "./env";
import { keybrake } from "./keybrake";

export interface PayoutParams {
  customerId: string;
  amountCents: number;
  runId: string;
  /** How long to sleep between checks (the test uses "1 second"). */
  pollEvery?: `${number} ${"second" | "seconds" | "minute" | "minutes"}`;
}

type Attempt = { status: "paid"; payment: { id: string; amount: number } } | { status: "waiting"; approvalId: string };

export class PayoutWorkflow extends WorkflowEntrypoint<Env, PayoutParams> {
  async run(event: Readonly<WorkflowEvent<PayoutParams>>, step: WorkflowStep) {
    const { customerId, amountCents, runId, pollEvery = "30 seconds" } = event.payload;
    const kb = keybrake(this.env);

    // This run's key. Steps return only its id (Workflows store step
    // outputs); a step that calls Stripe asks for the same key again.
    const runKey = () =>
      kb.issueKey(
        {
          label: `payout-${runId}`,
          vendor: "stripe",
          allowed_endpoints: ["POST /v1/payment_intents"],
          daily_usd_cap: 5000,
          expires_in: "2h",
          constraints: { approval_above_usd: 100, approval_ttl: "1h" },
        },
        { idempotencyKey: `${event.instanceId}:payout-key` },
      );
    const vaultKey = await step.do("issue-vault-key", async () => ({ id: (await runKey()).id }));

    // The same request each time: an approval is bound to it.
    const pay = async (): Promise<Attempt> => {
      try {
        const res = await kb.proxyFetch("stripe", "/v1/payment_intents", {
          key: await runKey(),
          method: "POST",
          headers: { "idempotency-key": `${event.instanceId}:payout` },
          body: { amount: amountCents, currency: "usd", customer: customerId },
        });
        return { status: "paid", payment: (await res.json()) as { id: string; amount: number } };
      } catch (err) {
        if (err instanceof ApprovalRequiredError && err.approvalId) return { status: "waiting", approvalId: err.approvalId };
        throw err;
      }
    };

    let attempt = await step.do("pay", pay);
    for (let check = 0; attempt.status === "waiting" && check < 120; check++) {
      const { approvalId } = attempt;
      const decided = await step.do(`check-approval-${check}`, async () => (await kb.approvals.get(approvalId)).status);
      if (decided === "approved") {
        attempt = await step.do(`pay-approved-${check}`, pay);
      } else if (decided === "pending") {
        await step.sleep(`wait-${check}`, pollEvery);
      } else {
        await step.do("revoke-after-refusal", () => kb.revokeKey(vaultKey.id));
        return { status: decided, approvalId };
      }
    }
    await step.do("revoke-vault-key", () => kb.revokeKey(vaultKey.id));
    return attempt;
  }
}
