// A local stand-in for api.stripe.com: answers in Stripe's shapes and records
// every request it receives, so tests can assert what reached the vendor.
import http from "node:http";

function stripeError(res, status, code, message, type = "invalid_request_error") {
  res.writeHead(status, { "content-type": "application/json", "request-id": "req_fake" });
  res.end(JSON.stringify({ error: { type, code, message } }));
}

export async function startFakeStripe(port = 0, secret = "sk_test_fake_keybrake_upstream_secret_0123456789") {
  const requests = [];
  let seq = 0;
  // Optional override: (req, record) => undefined | {status, body, delayMs}
  let override = null;

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const url = new URL(req.url, "http://fake");
      const body = Buffer.concat(chunks).toString("utf8");
      const form = Object.fromEntries(new URLSearchParams(body));
      const record = {
        method: req.method,
        path: url.pathname,
        query: url.search,
        headers: req.headers,
        body,
        form,
      };
      requests.push(record);
      const custom = override?.(record);
      if (custom) {
        if (custom.delayMs) await new Promise((r) => setTimeout(r, custom.delayMs));
        res.writeHead(custom.status ?? 200, { "content-type": "application/json" });
        res.end(JSON.stringify(custom.body ?? {}));
        return;
      }
      if (req.headers.authorization !== `Bearer ${fake.secret}`) {
        return stripeError(res, 401, undefined, "Invalid API Key provided");
      }
      const parts = url.pathname.split("/").filter(Boolean);
      res.setHeader("content-type", "application/json");
      res.setHeader("request-id", `req_fake_${++seq}`);
      if (req.method === "POST" && url.pathname === "/v1/payment_intents") {
        if (!form.amount || !form.currency) {
          return stripeError(res, 400, "parameter_missing", "Missing required param: amount.");
        }
        const id = `pi_fake${++seq}`;
        res.writeHead(200);
        return res.end(
          JSON.stringify({
            id,
            object: "payment_intent",
            amount: Number(form.amount),
            currency: form.currency,
            customer: form.customer ?? null,
            metadata: {},
            status: "requires_confirmation",
          }),
        );
      }
      if (parts[0] === "v1" && parts[1] === "payment_intents" && parts[2]) {
        const status = parts[3] === "confirm" ? "succeeded" : "requires_confirmation";
        res.writeHead(200);
        return res.end(JSON.stringify({ id: parts[2], object: "payment_intent", status }));
      }
      if (parts[0] === "v1" && parts[1] === "customers") {
        res.writeHead(200);
        return res.end(JSON.stringify({ id: parts[2] ?? `cus_fake${++seq}`, object: "customer" }));
      }
      return stripeError(res, 404, "resource_missing", `Unrecognized request URL (${req.method}: ${url.pathname})`);
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const fake = {
    secret,
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    respondWith(fn) {
      override = fn;
    },
    reset() {
      requests.length = 0;
      override = null;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
  return fake;
}

// Standalone: `node tests/support/fake-stripe.mjs [port]` serves the fake for
// a local walk-through; its upstream secret is printed for .dev.vars.
if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 12111);
  // The placeholder secret of .dev.vars.example, unless told otherwise.
  const fake = await startFakeStripe(port, process.env.STRIPE_SECRET_KEY ?? "sk_test_replace_me");
  console.log(`fake Stripe on ${fake.url}, accepting STRIPE_SECRET_KEY=${fake.secret}`);
  setInterval(() => {
    while (fake.requests.length) {
      const r = fake.requests.shift();
      console.log(`${r.method} ${r.path}${r.query} auth=${r.headers.authorization?.slice(0, 14)}… ${r.body}`);
    }
  }, 200);
}
