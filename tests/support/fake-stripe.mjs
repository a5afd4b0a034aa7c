// A local stand-in for api.stripe.com: answers in Stripe's shapes and records
// every request, so tests can assert what reached the vendor.
// Standalone: `node tests/support/fake-stripe.mjs [port]` (default 12111).
import { sendJson, serveStandalone, startFakeServer } from "./fake-server.mjs";

const stripeError = (res, status, code, message, type = "invalid_request_error") =>
  sendJson(res, status, { error: { type, code, message } }, { "request-id": "req_fake" });

export async function startFakeStripe(port = 0, secret = "sk_test_fake_keybrake_upstream_secret_0123456789") {
  let seq = 0;
  const fake = await startFakeServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${secret}`) {
      return stripeError(res, 401, undefined, "Invalid API Key provided");
    }
    const { form } = req;
    const parts = req.path.split("/").filter(Boolean);
    const headers = { "request-id": `req_fake_${++seq}` };
    if (req.method === "POST" && req.path === "/v1/payment_intents") {
      if (!form.amount || !form.currency) {
        return stripeError(res, 400, "parameter_missing", "Missing required param: amount.");
      }
      // Stripe's test payment method for a declined card.
      if (form.payment_method === "pm_card_chargeDeclined") {
        return stripeError(res, 402, "card_declined", "Your card was declined.", "card_error");
      }
      return sendJson(
        res,
        200,
        {
          id: `pi_fake${++seq}`,
          object: "payment_intent",
          amount: Number(form.amount),
          currency: form.currency,
          customer: form.customer ?? null,
          metadata: {},
          status: "requires_confirmation",
        },
        headers,
      );
    }
    if (req.method === "POST" && req.path === "/v1/charges") {
      return sendJson(res, 200, { id: `ch_fake${++seq}`, object: "charge", amount: Number(form.amount), currency: form.currency }, headers);
    }
    // A refund: of a payment named in the body, or of the charge in the path.
    if (req.method === "POST" && (req.path === "/v1/refunds" || /^\/v1\/charges\/[^/]+\/refunds?$/.test(req.path))) {
      const charge = parts[1] === "charges" ? parts[2] : form.charge ?? null;
      return sendJson(res, 200, { id: `re_fake${++seq}`, object: "refund", amount: form.amount ? Number(form.amount) : null, charge, payment_intent: form.payment_intent ?? null }, headers);
    }
    if (req.method === "POST" && /^\/v1\/invoices\/[^/]+\/pay$/.test(req.path)) {
      return sendJson(res, 200, { id: parts[2], object: "invoice", status: "paid" }, headers);
    }
    if (parts[0] === "v1" && parts[1] === "payment_intents" && parts[2]) {
      const status = parts[3] === "confirm" ? "succeeded" : "requires_confirmation";
      return sendJson(res, 200, { id: parts[2], object: "payment_intent", status }, headers);
    }
    if (parts[0] === "v1" && parts[1] === "customers") {
      return sendJson(res, 200, { id: parts[2] ?? `cus_fake${++seq}`, object: "customer" }, headers);
    }
    return stripeError(res, 404, "resource_missing", `Unrecognized request URL (${req.method}: ${req.path})`);
  }, port);
  return { ...fake, secret };
}

// The placeholder secret of .dev.vars.example, unless told otherwise.
await serveStandalone(import.meta.url, async () => {
  const fake = await startFakeStripe(Number(process.argv[2] ?? 12111), process.env.STRIPE_SECRET_KEY ?? "sk_test_replace_me");
  console.log(`fake Stripe on ${fake.url}, accepting STRIPE_SECRET_KEY=${fake.secret}`);
  return fake;
});
