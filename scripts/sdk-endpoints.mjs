// The vendors' own SDKs are the ground truth of which write endpoints exist; Keybrake's catalogue
// must classify each one (a host test in src/vendors/mod.rs reads the fixture this writes). Run with --write
// after upgrading stripe or resend; --check exits 1 when the fixture is stale; --stats explains.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURE = join(ROOT, "tests/fixtures/sdk-write-endpoints.json");
const STRIPE_DIR = join(ROOT, "node_modules/stripe");
const RESEND_DIR = join(ROOT, "node_modules/resend");
const WRITE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const QUOTES = new Set(["'", '"', "`"]);

// ---- a tiny JS reader: just enough to read string literals and call arguments ----

/** Reads the string or template literal at src[i]: its parts ({text} or {expr}) and the index past it. */
function readLiteral(src, i) {
  const quote = src[i];
  const parts = [];
  let text = "";
  let j = i + 1;
  while (src[j] !== quote) {
    if (j >= src.length) throw new Error(`unterminated literal at ${i}`);
    if (src[j] === "\\") {
      text += src.slice(j, j + 2);
      j += 2;
    } else if (quote === "`" && src.startsWith("${", j)) {
      const end = skipBalanced(src, j + 1);
      if (text) parts.push({ text });
      parts.push({ expr: src.slice(j + 2, end - 1).trim() });
      text = "";
      j = end;
    } else {
      text += src[j++];
    }
  }
  if (text) parts.push({ text });
  return { parts, end: j + 1 };
}

/** The index just past the bracket group opening at src[i]; strings inside may hold brackets. */
function skipBalanced(src, i) {
  const close = { "(": ")", "{": "}", "[": "]" };
  const stack = [close[src[i]]];
  let j = i + 1;
  while (stack.length) {
    const c = src[j];
    if (c === undefined) throw new Error(`unbalanced ${src[i]} at ${i}`);
    if (QUOTES.has(c) || isComment(src, j)) {
      j = skipToken(src, j);
      continue;
    }
    if (close[c]) stack.push(close[c]);
    else if (c === stack.at(-1)) stack.pop();
    j++;
  }
  return j;
}

const isComment = (src, j) => src.startsWith("//", j) || src.startsWith("/*", j);

/** The index past the string, template or comment at src[j]. */
function skipToken(src, j) {
  if (QUOTES.has(src[j])) return readLiteral(src, j).end;
  const close = src.startsWith("//", j) ? "\n" : "*/";
  const end = src.indexOf(close, j + 2);
  return end < 0 ? src.length : end + close.length;
}

/** The source of each argument of the call whose "(" is at src[open], comments left out. */
function callArgs(src, open) {
  const end = skipBalanced(src, open) - 1;
  const args = [];
  let arg = "";
  for (let j = open + 1; j < end; ) {
    if (isComment(src, j)) {
      j = skipToken(src, j);
      continue;
    }
    let next = j + 1;
    if (QUOTES.has(src[j])) next = skipToken(src, j);
    else if ("({[".includes(src[j])) next = skipBalanced(src, j);
    else if (src[j] === ",") {
      args.push(arg.trim());
      arg = "";
      j = next;
      continue;
    }
    arg += src.slice(j, next);
    j = next;
  }
  if (arg.trim()) args.push(arg.trim());
  return args;
}

/** The parts of an argument that is exactly one string or template literal, else null. */
function literal(arg) {
  if (!arg || !QUOTES.has(arg[0])) return null;
  const { parts, end } = readLiteral(arg, 0);
  return end === arg.length ? parts : null;
}

/** Every string or template literal in a piece of source. */
function literalsIn(src) {
  const found = [];
  for (let j = 0; j < src.length; ) {
    if (!QUOTES.has(src[j])) j++;
    else {
      const { parts, end } = readLiteral(src, j);
      found.push(parts);
      j = end;
    }
  }
  return found;
}

const lineOf = (src, index) => src.slice(0, index).split("\n").length;

// ---- paths ----

/**
 * The normalised path(s) a literal stands for: every interpolation becomes {id}, except a
 * leading one naming a known prefix (e.g. resend's inboxPath), which expands to each shape.
 */
function toPaths(parts, prefixes = new Map()) {
  let heads = [""];
  let body = parts;
  if (parts[0]?.expr !== undefined && prefixes.has(parts[0].expr)) {
    heads = prefixes.get(parts[0].expr);
    body = parts.slice(1);
  }
  const tail = body.map((p) => (p.expr !== undefined ? "{id}" : p.text)).join("");
  // Older stripe-node fullPath strings name their placeholders ({refund}); keep one spelling.
  const paths = heads.map((head) => (head + tail).replace(/\{[^}/]*\}/g, "{id}"));
  for (const path of paths) {
    if (!path.startsWith("/")) throw new Error(`not an absolute path: ${JSON.stringify(parts)}`);
  }
  return paths;
}

/** Segments that are partly literal and partly interpolated, e.g. {id}.json. */
const partialSegments = (path) => path.split("/").filter((s) => s.includes("{id}") && s !== "{id}");

/** Sorted by path then method, one entry per method and path, without the bookkeeping fields. */
function tidy(endpoints) {
  const byKey = new Map(endpoints.map(({ method, path }) => [`${path} ${method}`, { method, path }]));
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
}

const version = (dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;

// ---- stripe ----

function jsFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith(".js"))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Every endpoint in stripe's cjs tree. Resources call this._makeRequest('POST', '/v1/...', params,
 * options, spec); older releases declared stripeMethod({ method, fullPath }), read too in case
 * of a downgrade. Calls whose method or path is not a literal are the SDK's own plumbing
 * (pagination, rawRequest); one with a literal write method and a computed path fails loudly.
 */
export function scanStripe(dir = STRIPE_DIR) {
  const cjs = join(dir, "cjs");
  const endpoints = [];
  const plumbing = [];
  const patterns = {};
  for (const file of jsFiles(cjs)) {
    const src = readFileSync(file, "utf8");
    const where = (index) => `${relative(cjs, file)}:${lineOf(src, index)}`;
    for (const m of src.matchAll(/\b(_makeRequest|_rawRequest|rawRequest)\(/g)) {
      const args = callArgs(src, m.index + m[0].length - 1);
      const method = literal(args[0]);
      const path = literal(args[1]);
      const name = m[1];
      if (!method || !path) {
        const methodText = method?.map((p) => p.text).join("");
        if (WRITE.has(methodText)) throw new Error(`${where(m.index)}: write call with a computed path`);
        if (!method && relative(cjs, file).startsWith("resources")) {
          throw new Error(`${where(m.index)}: resource call with a computed method`);
        }
        plumbing.push(`${where(m.index)} ${name}(${args.slice(0, 2).join(", ")})`);
        continue;
      }
      const apiBase = /apiBase:\s*['"](\w+)['"]/.exec(args[4] ?? "")?.[1] ?? "api";
      for (const p of toPaths(path)) {
        endpoints.push({ method: method[0].text.toUpperCase(), path: p, apiBase, pattern: name, at: where(m.index) });
      }
      patterns[name] = (patterns[name] ?? 0) + 1;
    }
    for (const m of src.matchAll(/\bstripeMethod\(\s*\{/g)) {
      const spec = src.slice(m.index, skipBalanced(src, m.index + m[0].length - 1));
      const method = /\bmethod:\s*['"](\w+)['"]/.exec(spec)?.[1];
      const fullPath = /\bfullPath:\s*['"]([^'"]+)['"]/.exec(spec)?.[1];
      if (!method || !fullPath) throw new Error(`${where(m.index)}: stripeMethod without a literal method and fullPath`);
      for (const p of toPaths([{ text: fullPath }])) {
        endpoints.push({ method: method.toUpperCase(), path: p, apiBase: "api", pattern: "stripeMethod", at: where(m.index) });
      }
      patterns.stripeMethod = (patterns.stripeMethod ?? 0) + 1;
    }
  }
  const hosts = readStripeHosts(cjs);
  const writes = endpoints.filter((e) => WRITE.has(e.method)).map((e) => ({ ...e, host: hosts[e.apiBase] ?? e.apiBase }));
  return { version: version(dir), all: endpoints, writes, plumbing, patterns };
}

/** apiBase name -> host, from the SDK's own table (files.stripe.com, meter-events.stripe.com, ...). */
function readStripeHosts(cjs) {
  const file = join(cjs, "Types.js");
  const src = existsSync(file) ? readFileSync(file, "utf8") : "";
  return Object.fromEntries([...src.matchAll(/(\w+):\s*'([\w.-]+\.stripe\.com)'/g)].map((m) => [m[1], m[2]]));
}

// ---- resend ----

const RESEND_CLIENT = /^(this\.)?resend$/;
// Same method names on objects that are not the HTTP client.
const NOT_HTTP = /(^|\.)(headers|searchParams)$/;

/**
 * Every endpoint in resend's bundle: this.resend.post("/emails", ...), .put, .patch, .delete.
 * A path starting with a helper's result (`${inboxPath}/drafts`) expands to every path shape
 * the helper's source can return. Anything unrecognised fails loudly.
 */
export function scanResend(dir = RESEND_DIR) {
  const file = join(dir, "dist/index.mjs");
  const src = readFileSync(file, "utf8");
  const calls = [];
  const ignored = [];
  for (const m of src.matchAll(/\.(post|put|patch|delete)\(/g)) {
    const receiver = /[\w$.]+$/.exec(src.slice(Math.max(0, m.index - 100), m.index))?.[0] ?? "";
    const at = `dist/index.mjs:${lineOf(src, m.index)}`;
    if (NOT_HTTP.test(receiver)) {
      ignored.push(`${at} ${receiver}.${m[1]}(`);
      continue;
    }
    if (!RESEND_CLIENT.test(receiver)) throw new Error(`${at}: unrecognised ${receiver}.${m[1]}( call`);
    const path = literal(callArgs(src, m.index + m[0].length - 1)[0]);
    if (!path) throw new Error(`${at}: ${m[1]} with a computed path`);
    calls.push({ method: m[1].toUpperCase(), parts: path, at });
  }
  const prefixes = pathPrefixes(src, calls);
  const writes = calls.flatMap(({ method, parts, at }) =>
    toPaths(parts, prefixes).map((path) => ({ method, path, at })),
  );
  return { version: version(dir), writes, ignored, prefixes };
}

/** Leading ${name} -> the path shapes of the helper assigned to it (const inboxPath = buildInboxPath(...)). */
function pathPrefixes(src, calls) {
  const prefixes = new Map();
  const leading = new Set(calls.filter((c) => c.parts[0]?.expr !== undefined).map((c) => c.parts[0].expr));
  for (const name of leading) {
    if (!/^[\w$]+$/.test(name)) continue; // an inline expression is just a segment
    const helpers = new Set([...src.matchAll(new RegExp(`\\b(?:const|let|var)\\s+${name}\\s*=\\s*([\\w$]+)\\(`, "g"))].map((m) => m[1]));
    if (!helpers.size) continue; // a plain id, e.g. `${identifier}/...`
    const shapes = new Set();
    for (const helper of helpers) {
      const def = new RegExp(`\\bfunction\\s+${helper}\\s*\\([^)]*\\)\\s*\\{`).exec(src);
      if (!def) throw new Error(`${name} comes from ${helper}, whose definition was not found`);
      const body = src.slice(def.index, skipBalanced(src, def.index + def[0].length - 1));
      for (const parts of literalsIn(body)) {
        if (parts[0]?.text?.startsWith("/")) toPaths(parts).forEach((p) => shapes.add(p));
      }
    }
    if (!shapes.size) throw new Error(`${name}: no path shapes found in ${[...helpers]}`);
    prefixes.set(name, [...shapes].sort());
  }
  return prefixes;
}

// ---- the fixture ----

/** What the installed SDKs define, in the fixture's shape. */
export function sdkWriteEndpoints() {
  const stripe = scanStripe();
  const resend = scanResend();
  return {
    stripe: { version: stripe.version, endpoints: tidy(stripe.writes) },
    resend: { version: resend.version, endpoints: tidy(resend.writes) },
  };
}

export const render = (fixture) => `${JSON.stringify(fixture, null, 2)}\n`;

/** Compares the committed fixture with the installed SDKs: { ok, added, removed, versions, summary }. */
export function checkFixture(file = FIXTURE) {
  const current = sdkWriteEndpoints();
  const text = existsSync(file) ? readFileSync(file, "utf8") : null;
  const committed = text === null ? {} : JSON.parse(text);
  const result = { ok: text === render(current), added: {}, removed: {}, versions: {} };
  for (const sdk of Object.keys(current)) {
    const keys = (f) => new Set((f?.endpoints ?? []).map((e) => `${e.method} ${e.path}`));
    const [now, was] = [keys(current[sdk]), keys(committed[sdk])];
    result.added[sdk] = [...now].filter((k) => !was.has(k));
    result.removed[sdk] = [...was].filter((k) => !now.has(k));
    result.versions[sdk] = { committed: committed[sdk]?.version ?? null, installed: current[sdk].version };
  }
  result.summary = summarise(result, file, text === null);
  return result;
}

function summarise(result, file, missing) {
  if (result.ok) return `${relative(ROOT, file)} matches the installed SDKs`;
  const lines = [`${relative(ROOT, file)} ${missing ? "is missing" : "differs from the installed SDKs"}:`];
  for (const [sdk, v] of Object.entries(result.versions)) {
    const added = result.added[sdk];
    const removed = result.removed[sdk];
    lines.push(`  ${sdk} ${v.committed ?? "(none)"} -> ${v.installed}: ${added.length} added, ${removed.length} removed`);
    lines.push(...added.map((k) => `    + ${k}`), ...removed.map((k) => `    - ${k}`));
  }
  if (!missing && Object.values(result.added).concat(Object.values(result.removed)).every((l) => !l.length)) {
    lines.push("  (same endpoints; the version or formatting differs)");
  }
  lines.push("Run: node scripts/sdk-endpoints.mjs --write");
  return lines.join("\n");
}

/** What a reviewer wants to know after an upgrade: patterns, odd hosts, partial segments. */
function stats() {
  const stripe = scanStripe();
  const resend = scanResend();
  const out = [];
  out.push(`stripe ${stripe.version}: ${tidy(stripe.writes).length} write endpoints of ${tidy(stripe.all).length}; calls by pattern ${JSON.stringify(stripe.patterns)}`);
  out.push(`  plumbing calls (computed method or path): ${stripe.plumbing.length}`, ...stripe.plumbing.map((p) => `    ${p}`));
  for (const e of stripe.writes.filter((e) => e.apiBase !== "api" || !/^\/v[12]\//.test(e.path))) {
    out.push(`  ${e.method} ${e.path} on ${e.host} (${e.at})`);
  }
  out.push(`resend ${resend.version}: ${tidy(resend.writes).length} write endpoints`);
  for (const [name, shapes] of resend.prefixes) out.push(`  \${${name}} -> ${shapes.join(", ")}`);
  out.push(...resend.ignored.map((i) => `  ignored (not HTTP): ${i}`));
  for (const e of [...stripe.writes, ...resend.writes]) {
    const partial = partialSegments(e.path);
    if (partial.length) out.push(`  partly interpolated: ${e.method} ${e.path} (${e.at})`);
  }
  return out.join("\n");
}

function main(argv) {
  if (argv.includes("--check")) {
    const result = checkFixture();
    (result.ok ? console.log : console.error)(result.summary);
    return result.ok ? 0 : 1;
  }
  if (argv.includes("--stats")) {
    console.log(stats());
    return 0;
  }
  const text = render(sdkWriteEndpoints());
  if (argv.includes("--write")) {
    writeFileSync(FIXTURE, text);
    console.log(`wrote ${relative(ROOT, FIXTURE)}`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
