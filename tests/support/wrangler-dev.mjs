// Runs Keybrake under `wrangler dev` with state persisted in a folder, so a
// test can kill it (SIGKILL, the whole process group) and start it again.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const wrangler = path.join(root, "node_modules/.bin/wrangler");
const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", KEYBRAKE_SKIP_BUILD: "1" };

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(wrangler, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`wrangler ${args[0]} failed:\n${out}`))));
  });
}

export async function applyMigrations(persistTo) {
  await run(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo]);
}

export async function startWranglerDev({ persistTo, port, vars }) {
  const args = ["dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persistTo];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  // Its own process group, so SIGKILL reaches workerd too.
  const child = spawn(wrangler, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`wrangler dev did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    output: () => output,
    /**
     * wrangler dev's file watcher reports `src` as changed once shortly
     * after start (even when nothing changed) and rebuilds and reloads the
     * Worker; calls in flight then get wrangler's own 503. Waits for that
     * reload (up to `ms`) and for the Worker to answer again.
     */
    async afterStartupReload(ms = 10_000) {
      const deadline = Date.now() + ms;
      const builds = () => (output.match(/\[custom build\] Running/g) ?? []).length;
      while (Date.now() < deadline && !(/restarting build/.test(output) && builds() >= 2)) {
        await new Promise((r) => setTimeout(r, 100));
      }
      for (;;) {
        const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
        if (ok || Date.now() > deadline + 10_000) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    kill() {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on("exit", resolve)));
    },
  };
}
