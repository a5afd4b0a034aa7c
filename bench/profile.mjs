// A CPU profile of Keybrake under load, for finding where its time goes:
// serves the release Worker (build it with KEYBRAKE_KEEP_WASM_NAMES=1 so
// wasm frames have names) with workerd's inspector on, drives one hot key
// at the given concurrency, and prints the functions with the most self
// time. node --experimental-websocket bench/profile.mjs [concurrency] [call|issue]
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ADMIN_TOKEN, startKeybrake } from "../tests/support/keybrake.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CONNECTIONS = Number(process.argv[2] ?? 16);
// `issue` profiles key issuance (POST /v1/keys) instead of a priced call.
const WHAT = process.argv[3] ?? "call";
const INSPECTOR = 9239;

function run(script, args) {
  const child = spawn(process.execPath, [path.join(root, script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return { child, done: new Promise((resolve) => child.on("exit", () => resolve(out))) };
}

const upstream = run("bench/upstream.mjs", []);
const port = await new Promise((resolve) => upstream.child.stdout.once("data", (d) => resolve(String(d).trim())));
const kb = await startKeybrake({
  vars: { STRIPE_API_BASE: `http://127.0.0.1:${port}`, STRIPE_SECRET_KEY: "sk_test_profile", KEYBRAKE_TEST_HOOKS: "0" },
  port: 0,
  inspectorPort: INSPECTOR,
});
const key = await kb.issueKey({ label: "profile", daily_usd_cap: 1_000_000, expires_in: "1d", allowed_endpoints: ["POST /v1/payment_intents"] });
const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR}/json`)).json();
const target = targets.find((t) => /keybrake/.test(t.title ?? t.id)) ?? targets[0];
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener("open", r, { once: true }));
let seq = 0;
const pending = new Map();
ws.addEventListener("message", (m) => {
  const msg = JSON.parse(m.data);
  if (msg.id && pending.has(msg.id)) pending.get(msg.id)(msg.result);
});
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = ++seq;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
const config = JSON.stringify({
  url: kb.url,
  connections: CONNECTIONS,
  warmupMs: 500,
  durationMs: 4000,
  requests: [
    WHAT === "issue"
      ? { method: "POST", path: "/v1/keys", headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ label: "profile-issue", vendor: "stripe", allowed_endpoints: ["/v1/payment_intents"], daily_usd_cap: 5, expires_in: "5m" }) }
      : { method: "POST", path: "/stripe/v1/payment_intents", headers: { authorization: `Bearer ${key.token}`, "content-type": "application/x-www-form-urlencoded" }, body: "amount=1&currency=usd" },
  ],
});
const load = JSON.parse(await run("bench/load.mjs", [config]).done);
const { profile } = await send("Profiler.stop");
ws.close();
await kb.dispose();
upstream.child.kill();

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
profile.samples.forEach((id, i) => {
  const f = byId.get(id).callFrame;
  const name = `${f.functionName || "(anonymous)"} ${f.url ? path.basename(f.url) : ""}`.trim();
  self.set(name, (self.get(name) ?? 0) + (dt[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.log(`load: ${load.rps} req/s, p50 ${load.p50} ms at c=${CONNECTIONS}; profiled ${(total / 1000).toFixed(0)} ms`);
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) {
  console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${name.slice(0, 140)}`);
}
