// Hostile input gets a clear error and changes nothing.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { ADMIN_TOKEN } from "./support/keybrake.mjs";
import { useKeybrake } from "./support/setup.mjs";

// On a port too, for requests no fetch client sends reliably.
const ctx = useKeybrake({}, { port: 0 });

/**
 * Writes `request` (raw HTTP/1.1) to Keybrake's port and returns all it
 * answered before closing the connection; a reset after the answer (the
 * server closing with the request not fully read) is no error here.
 */
function rawHttp(url, request) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let answer = "";
    socket.on("data", (d) => (answer += d));
    socket.on("close", () => resolve(answer));
    socket.on("error", (e) => (answer ? resolve(answer) : reject(e)));
    socket.write(request);
  });
}

describe("path tricks", () => {
  // Every one of these aims outside the allowlist (or at nothing sensible).
  const tricks = [
    "/stripe/v1/payment_intents/../customers",
    "/stripe/v1/payment_intents/..%2fcustomers",
    "/stripe/v1/payment_intents/%2e%2e/customers",
    "/stripe/v1/payment_intents/%2E%2E%2Fcustomers",
    "/stripe/v1/payment_intents/pi_1%2F..%2F..%2Fcustomers",
    "/stripe/v1/payment_intents/%252e%252e/customers",
    "/stripe/v1/payment_intents/%c0%ae%c0%ae/customers",
    "/stripe/v1/payment_intents/%c0%af../customers",
    "/stripe/v1//customers",
    "/stripe//v1/customers",
    "/stripe/v1/payment_intents\\..\\customers",
    "/stripe/v1/payment_intents/pi_1\\",
    "/stripe/V1/Customers",
    "/stripe/v1/PAYMENT_INTENTS/pi_1",
    "/stripe/v1/customers.",
    "/stripe/v1/payment_intents/.",
    "/stripe/v1/payment_intents/pi_1%3F/../../customers",
    "/stripe/v1/payment_intents/pi_1%23/../../customers",
    "/stripe/v1/customers?x=/v1/payment_intents",
    "/stripe/v1/customers#/v1/payment_intents",
    "/stripe/https://evil.test/v1/payment_intents",
    "/stripe/http:%2F%2Fevil.test/v1/payment_intents",
    "/stripe/%2Fv1/payment_intents",
    "/stripe/v1/payment_intents/pi_1%00",
    "/stripe/v1/payment_intents/pi_1%0d%0aX-Injected:1",
    "/stripe/v1/payment_intents/pi 1",
    "/stripe/v1/payment_intents/π",
    "/stripe/v1/payment_intents/pi_1/confirm/",
    "/stripe/v1/payment_intents;/../customers",
    "/stripe/v1/customers;/payment_intents",
  ];

  test("none reaches the vendor outside the allowlist; each gets a clear 4xx", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ allowed_endpoints: ["GET /v1/payment_intents/*"] });
    const before = stripe.requests.length;
    for (const path of tricks) {
      const res = await kb.proxy(key.token, path, { method: "GET" });
      assert.ok([400, 403].includes(res.status), `${path} -> ${res.status} ${res.text}`);
      assert.ok(["bad_request", "endpoint_not_allowed"].includes(res.json.code), `${path}: ${res.text}`);
      assert.ok(res.json.message.length > 10, "the error says what was wrong");
    }
    const outside = stripe.requests.slice(before).filter((r) => !/^\/v1\/payment_intents\/[^/]+$/.test(r.path));
    assert.deepEqual(outside, [], "nothing outside GET /v1/payment_intents/* reached Stripe");
  });

  test("Host header games", async () => {
    const { kb, stripe } = ctx;
    const key = await kb.issueKey({ allowed_endpoints: ["GET /v1/payment_intents/*"] });
    const before = stripe.requests.length;
    const cases = [
      // A vendor host takes the whole path as the vendor's: still allowlisted.
      ["stripe.keybrake.test", "/v1/customers", 403, "endpoint_not_allowed"],
      ["stripe.keybrake.test", "/stripe/v1/payment_intents/pi_1", 403, "endpoint_not_allowed"],
      // No dot: not a vendor host, so this is the management API, where a vault key is nobody.
      ["stripe", "/v1/payment_intents/pi_1", 401, "unauthorized"],
      ["twilio.keybrake.test", "/2010-04-01/Accounts/AC1/Messages.json", 403, "vendor_mismatch"],
      ["evil.test", "/stripe/v1/customers", 403, "endpoint_not_allowed"],
      ["evil.test", "/v1/keys", 401, "unauthorized"],
    ];
    for (const [host, path, status, code] of cases) {
      const res = await kb.mf.dispatchFetch(`http://${host}${path}`, { headers: { authorization: `Bearer ${key.token}` } });
      const body = await res.json();
      assert.equal(res.status, status, `${host}${path}`);
      assert.equal(body.keybrake_code ?? body.code, code, `${host}${path}`);
    }
    // Hostnames are case-insensitive: STRIPE.… is Stripe, with the same allowlist.
    for (const host of ["stripe.keybrake.test", "STRIPE.keybrake.test"]) {
      const ok = await kb.mf.dispatchFetch(`http://${host}/v1/payment_intents/pi_host`, { headers: { authorization: `Bearer ${key.token}` } });
      assert.equal(ok.status, 200, host);
      await ok.text();
    }
    assert.deepEqual(stripe.requests.slice(before).map((r) => r.path), ["/v1/payment_intents/pi_host", "/v1/payment_intents/pi_host"]);
  });
});

describe("bodies and headers", () => {
  test("oversized bodies and headers, malformed bodies: clear 4xx, nothing forwarded", async () => {
    const { kb, stripe, resend } = ctx;
    const key = await kb.issueKey({ daily_usd_cap: 1000 });
    const before = stripe.requests.length + resend.requests.length;
    const big = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: `amount=100&currency=usd&description=${"x".repeat(1_100_000)}`, headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(big.status, 413);
    assert.equal(big.json.code, "payload_too_large");
    // Headers past the runtime's limit (128 KiB): workerd answers 431 itself
    // and closes, before Keybrake runs; nothing is forwarded or charged.
    // Sent over a socket: a fetch client still writing the 200 KB when the
    // connection closes may see the reset instead of the answer (undici in
    // dispatchFetch did 4 times in 30 here: "fetch failed", ECONNRESET).
    const payload = JSON.stringify({ amount: 100, currency: "usd" });
    const { host } = new URL(kb.url);
    const request =
      `POST /stripe/v1/payment_intents HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${key.token}\r\nX-Padding: ${"y".repeat(200_000)}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n${payload}`;
    // The server closes with our bytes unread, so the kernel may reset the
    // connection before its answer is read: ask again (at most twice more)
    // rather than accept a reset as a refusal.
    let answer = "";
    for (let attempt = 1; !answer; attempt++) {
      if (attempt > 3) throw new Error("three connections closed without an answer");
      answer = await rawHttp(kb.url, request).catch(() => "");
    }
    kb.seen.push(answer);
    assert.equal(answer.split("\r\n")[0], "HTTP/1.1 431 Request Header Fields Too Large", answer.slice(0, 300));
    assert.doesNotMatch(answer, /keybrake-/i, "refused before Keybrake saw it");
    assert.equal(stripe.requests.length + resend.requests.length, before, "not forwarded");
    // Keybrake still answers, and nothing was charged or held.
    const after = await kb.admin(`/v1/keys/${key.id}`);
    assert.equal(after.status, 200, after.text);
    assert.equal(after.json.spent_today_usd, 0);
    assert.equal(after.json.reserved_today_usd, 0);
    for (const body of ['{"amount": 100, "currency": "usd"', "[1,2,3]", '"just a string"', "amount=%zz&currency=usd"]) {
      const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body, headers: { "content-type": body.startsWith("amount") ? "application/x-www-form-urlencoded" : "application/json" } });
      assert.equal(res.status, 400, body);
      assert.equal(res.json.code, "bad_request", body);
    }
    for (const amount of [-100, 12.5, 1e30, "100abc", "", "0x10", "1e3"]) {
      const res = await kb.proxy(key.token, "/stripe/v1/payment_intents", { body: { amount, currency: "usd" } });
      assert.equal(res.status, 400, `amount ${amount}`);
      assert.equal(res.json.code, "unpriceable_request", `amount ${amount}`);
    }
    assert.equal(stripe.requests.length + resend.requests.length, before);
    const state = await kb.admin(`/v1/keys/${key.id}`);
    assert.equal(state.json.spent_today_usd, 0, "no refused call was charged");
  });

  test("management input of the wrong type or size changes nothing", async () => {
    const { kb } = ctx;
    // Every key there is, page by page: exact however many the file issued.
    const count = async () => (await kb.listAll("/v1/keys", { limit: "200" })).length;
    const before = await count();
    const base = { label: "x", vendor: "stripe", allowed_endpoints: ["/v1/x"], daily_usd_cap: 1, expires_in: "1m" };
    const bad = [
      { daily_usd_cap: 1e300 },
      { daily_usd_cap: "1e300" },
      { daily_usd_cap: Number.MAX_SAFE_INTEGER },
      { daily_usd_cap: true },
      { daily_usd_cap: [1] },
      { daily_usd_cap: { usd: 1 } },
      { expires_in: 60.5 },
      { expires_in: -60 },
      { expires_in: "99999999999s" },
      { label: "x".repeat(201) },
      { label: "line\nbreak" },
      { label: null },
      { vendor: "Stripe" },
      { allowed_endpoints: [5] },
      { allowed_endpoints: Array.from({ length: 101 }, (_, i) => `/v1/x${i}`) },
      { allowed_endpoints: ["/v1/" + "a".repeat(2000)] },
      { allowed_accounts: "acct_1" },
    ];
    for (const patch of bad) {
      const res = await kb.admin("/v1/keys", { method: "POST", body: { ...base, ...patch } });
      assert.equal(res.status, 400, `${JSON.stringify(patch).slice(0, 80)} -> ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.json.param, Object.keys(patch)[0], "names the field it was wrong about");
    }
    const huge = await kb.admin("/v1/keys", { method: "POST", body: JSON.stringify({ ...base, label: "y".repeat(3_000_000) }) });
    assert.equal(huge.status, 400, huge.text.slice(0, 200));
    assert.equal(huge.json.param, "label");
    assert.equal(await count(), before, "no key was written");
  });

  test("listing filters: an unknown or repeated query parameter is refused by name, never ignored", async () => {
    const { kb } = ctx;
    const cases = [
      ["/v1/keys?stauts=revoked", "stauts", /not a known query parameter \(status, vendor, label_prefix, cursor, limit\)/],
      ["/v1/keys?status=active&status=revoked", "status", /more than once/],
      // Decoded before comparing: an encoded name is the same name.
      ["/v1/approvals?status=pending&%73tatus=used", "status", /more than once/],
      ["/v1/audit?decision=allowed&decision=denied", "decision", /more than once/],
      ["/v1/audit?limit=10&limit=10", "limit", /more than once/],
      ["/v1/usage?group_by=label&group_by=vendor", "group_by", /more than once/],
      ["/v1/usage?since=yesterday", "since", /epoch milliseconds or an RFC 3339 time/],
      ["/v1/approvals/apr_x?wait=1&wait=60", "wait", /more than once/],
      ["/v1/keys?limit=0", "limit", /from 1 to 200/],
    ];
    for (const [path, param, message] of cases) {
      const res = await kb.admin(path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.json.code, "bad_request", path);
      assert.equal(res.json.param, param, path);
      assert.match(res.json.message, message, path);
    }
    // The same filters, once each, are read.
    assert.equal((await kb.admin("/v1/keys?status=revoked&limit=1")).status, 200);
    assert.equal((await kb.admin("/v1/usage?group_by=vendor")).json.group_by, "vendor");
  });

  test("unicode labels round-trip exactly and stay text", async () => {
    const { kb } = ctx;
    for (const label of ["ラベル-run-1", "émoji 🚀 run", "<img src=x onerror=alert(1)>", "a\u200bb", "עברית"]) {
      const key = await kb.issueKey({ label });
      assert.equal(key.label, label);
      assert.equal((await kb.admin(`/v1/keys/${key.id}`)).json.label, label);
    }
  });
});

describe("tokens", () => {
  test("forged, truncated, checksum-broken and other keys' tokens are refused without touching the vendor", async () => {
    const { kb, stripe } = ctx;
    const mine = await kb.issueKey();
    const theirs = await kb.issueKey();
    const swapId = `kbk_${theirs.id.slice(4)}_${mine.token.slice(29)}`;
    const cases = [
      mine.token.slice(0, -1),
      mine.token.slice(0, 40),
      `${mine.token}0`,
      mine.token.toUpperCase(),
      mine.token.replace("kbk_", "kbx_"),
      swapId,
      ` ${mine.token}`.slice(1, -2) + "zz",
      "kbk_" + "0".repeat(73),
      ADMIN_TOKEN,
      stripe.secret,
    ];
    const before = stripe.requests.length;
    for (const token of cases) {
      const res = await kb.proxy(token, "/stripe/v1/payment_intents", { body: { amount: 100, currency: "usd" } });
      assert.equal(res.status, 401, token.slice(0, 20));
      assert.equal(res.json.code, "invalid_key");
    }
    assert.equal(stripe.requests.length, before);
    const rows = await kb.auditUntil({ decision: "denied" }, (rows) => rows.filter((r) => r.code === "invalid_key").length >= cases.length);
    const text = JSON.stringify(rows);
    for (const token of cases) assert.ok(!text.includes(token), "no presented credential is logged");
  });
});
