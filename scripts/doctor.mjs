// `npm run doctor`: what this checkout (or a running Keybrake) lacks, named.
//
//   npm run doctor                          tools, build, .dev.vars, and the built
//                                           Worker's own health with those settings
//   npm run doctor -- --vars other.vars     the same with another settings file
//   npm run doctor -- --url https://kb.example.com   a running Keybrake's /healthz
//                                           (with KEYBRAKE_ADMIN_TOKEN in the environment,
//                                           it also names the vendors that lack a secret)
//
// Each line is ok, a warning (!), or a problem (✗); any problem exits 1.
// Settings are named, never printed.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({ options: { url: { type: "string" }, vars: { type: "string", default: ".dev.vars" } } });

let problems = 0;
const ok = (text) => console.log(`  ok  ${text}`);
const warn = (text) => console.log(`  !   ${text}`);
const fail = (text) => {
  problems++;
  console.log(`  ✗   ${text}`);
};
const read = (file) => readFileSync(path.join(root, file), "utf8");

/** `KEY=value` lines of a .dev.vars file (comments and blank lines skipped). */
function parseVars(text) {
  const vars = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
    if (!m) continue;
    vars[m[1]] = m[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return vars;
}

/** The first line a command prints, or null when it cannot run. */
function version(cmd, argv) {
  try {
    return execFileSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

function checkTools() {
  console.log("Tools (scripts/setup.sh installs them)");
  const node = Number(process.versions.node.split(".")[0]);
  (node >= 20 ? ok : fail)(`Node ${process.versions.node}${node >= 20 ? "" : ": Keybrake needs 20 or newer"}`);
  const targets = version("rustup", ["target", "list", "--installed"]);
  if (targets === null) fail("rustup is not installed (https://rustup.rs)");
  else (targets.split("\n").includes("wasm32-unknown-unknown") ? ok : fail)("Rust target wasm32-unknown-unknown");
  const wanted = {
    "worker-build": read("scripts/setup.sh").match(/^WORKER_BUILD_VERSION=(\S+)/m)?.[1],
    "wasm-bindgen": read("Cargo.toml").match(/^wasm-bindgen = "=(\S+)"/m)?.[1],
  };
  for (const [tool, want] of Object.entries(wanted)) {
    const have = version(tool, ["--version"]);
    if (have === null) fail(`${tool} is not installed (want ${want})`);
    else (have.includes(want) ? ok : fail)(`${have.startsWith(tool) ? "" : `${tool} `}${have}${have.includes(want) ? "" : ` (want ${want})`}`);
  }
  const npmCurrent = existsSync(path.join(root, "node_modules/.keybrake-lock")) && read("node_modules/.keybrake-lock") === read("package-lock.json");
  (npmCurrent ? ok : fail)(`npm packages ${npmCurrent ? "match package-lock.json" : "are missing or older than package-lock.json"}`);
}

/** Prints a /healthz answer: problems fail, vendors without credentials warn. */
function report(health) {
  for (const p of health.problems ?? []) fail(p);
  if (!health.vendors) warn("which vendors lack a secret is said to the admin token only: set KEYBRAKE_ADMIN_TOKEN to see it");
  for (const [vendor, state] of Object.entries(health.vendors ?? {})) {
    if (state.ready) ok(`${vendor}: credentials configured`);
    else warn(`${vendor}: ${state.missing}; its calls answer 503 not_configured until it is set`);
  }
  if (health.ok && !health.problems?.length) ok("bindings and settings hold");
}

/** GET /healthz, as the admin when a token is given (then it names the vendors). */
const askHealth = (fetcher, base, token) => fetcher(String(new URL("/healthz", base)), { headers: token ? { authorization: `Bearer ${token}` } : {} });

async function checkRemote(url) {
  console.log(`Keybrake at ${url}`);
  const res = await askHealth(fetch, url, process.env.KEYBRAKE_ADMIN_TOKEN).catch((err) => ({ error: err }));
  if (res.error) return fail(`no answer from ${url}: ${res.error.message}`);
  const health = await res.json().catch(() => null);
  if (!health) return fail(`${url}/healthz answered ${res.status} without JSON: is this Keybrake?`);
  report(health);
}

async function checkLocal() {
  console.log(`Settings (${args.vars}; wrangler secret put NAME in production)`);
  const varsFile = path.resolve(root, args.vars);
  let vars = {};
  if (!existsSync(varsFile)) fail(`${args.vars} does not exist: scripts/dev.sh creates it from .dev.vars.example`);
  else vars = parseVars(readFileSync(varsFile, "utf8"));
  // The example's values are placeholders: an admin token left so is a
  // problem, a vendor secret left so is one the vendor will refuse.
  const example = parseVars(read(".dev.vars.example"));
  for (const [name, value] of Object.entries(vars)) {
    if (example[name] !== value) continue;
    if (name === "KEYBRAKE_ADMIN_TOKEN") fail("KEYBRAKE_ADMIN_TOKEN is still the example's placeholder");
    else warn(`${name} is still the example's placeholder: the vendor will refuse it`);
  }
  const admin = vars.KEYBRAKE_ADMIN_TOKEN ?? "";
  if (admin && admin !== example.KEYBRAKE_ADMIN_TOKEN && admin.length < 32) warn("KEYBRAKE_ADMIN_TOKEN is shorter than 32 characters: use a long random token");

  if (!existsSync(path.join(root, "build/index.js"))) {
    fail("build/index.js is missing: run `npm run build` (or scripts/dev.sh), then doctor again");
    return;
  }
  console.log("The built Worker's own health, with these settings");
  const { Miniflare } = await import("miniflare");
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.toml"));
  const mf = new Miniflare({
    workers: [
      {
        ...workerOptions,
        modules: true,
        scriptPath: path.join(root, "build/index.js"),
        modulesRules: [
          { type: "ESModule", include: ["**/*.js"] },
          { type: "CompiledWasm", include: ["**/*.wasm"] },
        ],
        bindings: { ...workerOptions.bindings, ...vars },
      },
    ],
  });
  try {
    const res = await askHealth((u, init) => mf.dispatchFetch(u, init), "http://keybrake.local", vars.KEYBRAKE_ADMIN_TOKEN);
    report(await res.json());
  } finally {
    await mf.dispose();
  }

  console.log("Deploying (wrangler deploy)");
  if (read("wrangler.toml").includes('database_id = "00000000-0000-0000-0000-000000000000"')) {
    warn("wrangler.toml's database_id is the local placeholder: `wrangler d1 create keybrake` prints the real one");
  } else ok("wrangler.toml names a D1 database");
}

if (args.url) await checkRemote(args.url);
else {
  checkTools();
  await checkLocal();
}
console.log(problems ? `\n${problems} problem${problems === 1 ? "" : "s"} to fix.` : "\nNothing missing.");
process.exitCode = problems ? 1 : 0;
