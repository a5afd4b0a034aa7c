// Keybrake's dashboard: keys, approvals, spend and usage, audit, webhooks, issuers and
// budgets, talking only to the documented management API of the Worker that serves it.
//
// Everything agents control (labels, paths, messages) reaches the page as
// text nodes, never as markup: `el()` below is the only way this file makes
// elements, and it has no way to set innerHTML.

const TOKEN_KEY = "keybrake.admin_token";
const REFRESH_MS = 5000;
const VENDORS = ["stripe", "twilio", "resend"];
const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4d7c0f"];

// ---------------------------------------------------------------- helpers

/** An element with attributes, listeners (`on…`) and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);
const usd = (n) => `$${Number(n ?? 0).toFixed(2)}`;

function say(message, kind = "info") {
  const status = $("status");
  status.textContent = message;
  status.className = kind;
}

function duration(ms) {
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${String(s % 60).padStart(2, "0")}s`;
}

const time = (iso) => new Date(iso).toLocaleString();

// ---------------------------------------------------------------- the API

class Unauthorized extends Error {}

/** A refusal from the API: its `code` and, for bad input, the `param` at fault. */
class ApiFailure extends Error {
  constructor(status, json, fallback) {
    super(`${json.code ?? status}: ${json.message ?? fallback}`);
    this.status = status;
    this.code = json.code;
    this.param = json.param;
  }
}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401) throw new Unauthorized(json.message ?? "the admin token was refused");
  if (!res.ok) throw new ApiFailure(res.status, json, res.statusText);
  return json;
}

const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, v);
  return q.toString();
};

/** A resource that may have gone since it was listed: null when not found. */
const unlessGone = (promise) => promise.catch((err) => (err.code === "not_found" ? null : Promise.reject(err)));

/** Every page of a list, up to `maxPages`. */
async function all(path, params, maxPages = 20) {
  const rows = [];
  let cursor;
  for (let page = 0; page < maxPages; page++) {
    const res = await api("GET", `${path}?${query({ ...params, cursor })}`);
    rows.push(...res.data);
    cursor = res.next_cursor;
    if (!cursor) return { rows, complete: true };
  }
  return { rows, complete: false };
}

function confirmDialog(title, body, action) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-body").textContent = body;
  $("confirm-ok").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

// ---------------------------------------------------------------- views

/** The view on screen: what it shows, how it refreshes. */
let current = null;

const views = {
  keys: keysView,
  approvals: approvalsView,
  spend: spendView,
  audit: auditView,
  webhooks: webhooksView,
  issuers: issuersView,
  budgets: budgetsView,
  key: keyView,
};

/** Views reached from another view rather than the nav: the nav entry they belong to. */
const NAV_OF = { key: "keys" };

function route() {
  const [name, search] = location.hash.slice(1).split("?");
  const make = views[name] ?? views.keys;
  const tab = views[name] ? (NAV_OF[name] ?? name) : "keys";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === tab) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  current?.stop?.();
  const section = $("view");
  section.replaceChildren();
  current = make(section, new URLSearchParams(search ?? ""));
  current.refresh().catch(failed);
}

function failed(err, doing = "Could not load") {
  if (err instanceof Unauthorized) {
    signOut(`Signed out: ${err.message}.`);
    return;
  }
  say(`${doing}: ${err.message}`, "error");
}

/** Shows why a form's request was refused, marking and focusing the field at fault. */
function formFailed(form, err, doing) {
  failed(err, doing);
  const control = err.param && form.elements.namedItem(err.param.split(".")[0]);
  const target = control instanceof RadioNodeList ? control[0] : control;
  if (!target) return;
  target.setAttribute("aria-invalid", "true");
  target.focus();
}

function clearInvalid(form) {
  for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
}

function keysView(section, params) {
  const filters = {
    status: params.get("status") ?? "active",
    vendor: params.get("vendor") ?? "",
    label_prefix: params.get("label_prefix") ?? "",
  };
  const form = el(
    "form",
    { class: "filters", "aria-label": "Filter keys", onsubmit: (e) => e.preventDefault() },
    field("Status", select("status", ["active", "paused", "revoked", "expired", ["", "any"]], filters.status)),
    field("Vendor", select("vendor", [["", "any"], ...VENDORS], filters.vendor)),
    field("Label prefix", el("input", { name: "label_prefix", value: filters.label_prefix, type: "search", autocomplete: "off" })),
    el("button", { type: "button", class: "danger", id: "revoke-all", onclick: () => revokeAll() }, "Revoke all matching…"),
  );
  liveFilters(form, filters, () => view.refresh());
  const body = el("tbody");
  const more = el("p", { class: "muted" });
  section.append(el("h2", {}, "Keys"), issueForm(() => view.refresh()), form, dataTable("keys", "Vault keys", ["Label", "Vendor", "Status", "Spend today", "Expires in", "Allowed endpoints", ""], body), more);

  let rows = [];
  const tick = setInterval(() => {
    for (const cell of body.querySelectorAll("[data-expires]")) cell.textContent = duration(Number(cell.dataset.expires) - Date.now());
  }, 1000);

  async function revokeAll() {
    const filter = { vendor: filters.vendor || undefined, label_prefix: filters.label_prefix || undefined };
    const { rows: live, complete } = await all("/v1/keys", { status: "active", limit: 200, ...filter }, 50);
    const scope = [filter.vendor && `vendor ${filter.vendor}`, filter.label_prefix && `label starting with "${filter.label_prefix}"`].filter(Boolean).join(", ");
    const count = complete ? `${live.length}` : `at least ${live.length}`;
    const ok = await confirmDialog(
      scope ? `Revoke every key matching ${scope}?` : "Revoke every key?",
      `This kills ${count} active key${live.length === 1 ? "" : "s"}${scope ? ` (${scope})` : ", for every vendor and label"}. Agents holding them are refused from their next call.`,
      `Revoke ${count} key${live.length === 1 ? "" : "s"}`,
    );
    if (!ok) return;
    const res = await api("POST", "/v1/keys/revoke-all", filter);
    say(`Revoked ${res.revoked} key${res.revoked === 1 ? "" : "s"}.`);
    await view.refresh();
  }

  const view = {
    async refresh() {
      const res = await api("GET", `/v1/keys?${query({ ...filters, limit: 200 })}`);
      rows = res.data;
      body.replaceChildren(
        ...rows.map((k) =>
          el(
            "tr",
            {},
            el("td", {}, el("a", { href: `#key?${query({ id: k.id })}`, title: `Details of ${k.id}` }, k.label)),
            el("td", {}, k.vendor),
            el("td", {}, el("span", { class: `badge ${k.status}` }, k.status)),
            el("td", {}, spendBar(k.spent_today_usd ?? 0, k.daily_usd_cap)),
            el("td", k.status === "active" || k.status === "paused" ? { "data-expires": k.expiresAt } : {}, k.status === "active" || k.status === "paused" ? duration(k.expiresAt - Date.now()) : "–"),
            el("td", {}, el("ul", { class: "endpoints" }, k.allowed_endpoints.map((p) => el("li", {}, el("code", {}, p))))),
            el("td", { class: "actions" }, keyActions(k, () => view.refresh())),
          ),
        ),
      );
      if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No keys match.")));
      more.textContent = res.next_cursor ? "Showing the newest 200; narrow the filter to see others." : `${rows.length} key${rows.length === 1 ? "" : "s"}.`;
    },
    stop: () => clearInterval(tick),
  };
  return view;
}

/** Lines or commas of a textarea, as a list. */
const lines = (text) => text.split(/[\n,]/).map((t) => t.trim()).filter(Boolean);

/**
 * "Issue a key": a vault key by hand (for a quick test, or an agent outside
 * Workers). Its token is shown once; `issued` runs after.
 */
function issueForm(issued) {
  const scoped = (text, control) => field(text, control, "issue");
  const form = el(
    "form",
    { class: "create", "aria-label": "Issue a key" },
    scoped("Label", el("input", { name: "label", required: true, maxlength: 200, autocomplete: "off" })),
    scoped("Vendor", select("vendor", VENDORS, "stripe")),
    scoped("Allowed endpoints (one pattern per line)", el("textarea", { name: "allowed_endpoints", rows: 3, required: true, spellcheck: "false", placeholder: "POST /v1/payment_intents" })),
    scoped("Daily cap (USD)", el("input", { name: "daily_usd_cap", inputmode: "decimal", required: true, autocomplete: "off" })),
    scoped("Expires in", el("input", { name: "expires_in", required: true, autocomplete: "off", value: "1h", placeholder: "30m, 2h, 1d" })),
    scoped("Allowed accounts (optional, Stripe-Account ids)", el("input", { name: "allowed_accounts", autocomplete: "off" })),
    scoped("Constraints (optional JSON)", el("textarea", { name: "constraints", rows: 3, spellcheck: "false", placeholder: '{"max_amount_usd": 50, "currencies": ["usd"]}' })),
    el("button", { type: "submit" }, "Issue key"),
  );
  const token = el("p", { class: "card", hidden: true, role: "status" });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearInvalid(form);
    const f = form.elements;
    const body = {
      label: f.label.value.trim(),
      vendor: f.vendor.value,
      allowed_endpoints: lines(f.allowed_endpoints.value),
      daily_usd_cap: f.daily_usd_cap.value.trim(),
      expires_in: f.expires_in.value.trim(),
    };
    const accounts = lines(f.allowed_accounts.value);
    if (accounts.length) body.allowed_accounts = accounts;
    const constraints = f.constraints.value.trim();
    if (constraints) {
      try {
        body.constraints = JSON.parse(constraints);
      } catch (err) {
        say(`The constraints are not JSON: ${err.message}`, "error");
        f.constraints.setAttribute("aria-invalid", "true");
        f.constraints.focus();
        return;
      }
    }
    try {
      const key = await api("POST", "/v1/keys", body);
      token.replaceChildren(
        "Vault key for ",
        el("strong", {}, key.label),
        " (shown once, never again: hand it to the agent now): ",
        el("code", { id: "key-token" }, key.token),
        key.account_sid ? [" · account SID for the Twilio SDK: ", el("code", {}, key.account_sid)] : [],
      );
      token.hidden = false;
      form.reset();
      say(`Issued ${key.label} (${key.id}), expiring ${time(key.expires_at)}.`);
      issued();
    } catch (err) {
      formFailed(form, err, "Could not issue the key");
    }
  });
  return el("details", { class: "issue" }, el("summary", {}, "Issue a key…"), form, token);
}

const isLive = (key) => key.status === "active" || key.status === "paused";

/** What an operator can do to a key, each answering whether it changed anything. */
const keyChanges = {
  async pause(key) {
    await api("POST", `/v1/keys/${encodeURIComponent(key.id)}/pause`);
    say(`Paused ${key.label}: its calls are refused until it is resumed.`);
    return true;
  },
  async resume(key) {
    await api("POST", `/v1/keys/${encodeURIComponent(key.id)}/resume`);
    say(`Resumed ${key.label}.`);
    return true;
  },
  async edit(key) {
    const change = await editDialog(key);
    if (!change) return false;
    await api("PATCH", `/v1/keys/${encodeURIComponent(key.id)}`, change);
    say(`Changed ${key.label}.`);
    return true;
  },
  async revoke(key) {
    const ok = await confirmDialog(`Revoke ${key.label}?`, `Key ${key.id} (${key.vendor}) stops working now: every call that starts after this is refused.`, "Revoke key");
    if (!ok) return false;
    await api("DELETE", `/v1/keys/${encodeURIComponent(key.id)}`);
    say(`Revoked ${key.label} (${key.id}).`);
    return true;
  },
};

/** The Pause or Resume, Edit and Revoke buttons of a key (the keys table and a key's details); `changed` runs after each change. */
function keyActions(key, changed) {
  const button = (name, text, cls) =>
    el("button", { type: "button", class: cls ? `${cls} small` : "small", "aria-label": `${text} ${key.label}`, onclick: () => keyChanges[name](key).then((did) => did && changed()).catch((err) => failed(err, `Could not ${text.toLowerCase()} ${key.label}`)) }, text);
  return [
    key.status === "active" && button("pause", "Pause", "quiet"),
    key.status === "paused" && button("resume", "Resume", ""),
    isLive(key) && button("edit", "Edit", "quiet"),
    isLive(key) && button("revoke", "Revoke", "danger"),
  ];
}

/** Asks for a key's new caps and expiry; answers the PATCH body, or null. */
function editDialog(key) {
  const dialog = $("edit");
  const form = dialog.querySelector("form");
  $("edit-title").textContent = `Change ${key.label}`;
  form.elements.daily_usd_cap.value = String(key.daily_usd_cap);
  form.elements.total_usd_cap.value = key.constraints?.total_usd_cap ?? "";
  form.elements.expires_in.value = "";
  // The lifetime cap has its own field; the rest are edited as JSON.
  const { total_usd_cap, ...rest } = key.constraints ?? {};
  const shown = Object.keys(rest).length ? JSON.stringify(rest, null, 1) : "";
  form.elements.constraints.value = shown;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue !== "ok") return resolve(null);
        const change = {};
        const cap = form.elements.daily_usd_cap.value.trim();
        if (cap && cap !== String(key.daily_usd_cap)) change.daily_usd_cap = cap;
        const total = form.elements.total_usd_cap.value.trim();
        if (total && total !== String(key.constraints?.total_usd_cap ?? "")) change.total_usd_cap = total;
        const ttl = form.elements.expires_in.value.trim();
        if (ttl) change.expires_in = ttl;
        const constraints = form.elements.constraints.value.trim();
        if (constraints !== shown.trim()) {
          try {
            change.constraints = constraints ? JSON.parse(constraints) : {};
          } catch (err) {
            say(`Nothing changed: the constraints are not JSON (${err.message}).`, "error");
            return resolve(null);
          }
        }
        resolve(Object.keys(change).length ? change : null);
      },
      { once: true },
    ),
  );
}

/** Readable names of a key's constraints, in the order they are shown. */
const CONSTRAINTS = {
  max_amount_usd: "Most one payment may move",
  currencies: "Currencies",
  customers: "Customers",
  metadata: "Metadata a payment must carry",
  to: "May send to",
  from: "May send from",
  max_segments: "Most segments per message",
  from_domains: "May send from domains",
  to_domains: "May send to domains",
  max_recipients: "Most recipients per email",
  max_requests: "Most calls in all",
  rate_limit: "Rate limit",
  total_usd_cap: "Lifetime cap",
  approval_above_usd: "Approval needed above",
  approval_ttl: "Approvals wait at most",
};
const MONEY_CONSTRAINTS = new Set(["max_amount_usd", "total_usd_cap", "approval_above_usd"]);

/** A key's constraints as a definition list: each one's name and value, as text. */
function constraintList(constraints) {
  const names = Object.keys(constraints ?? {});
  if (!names.length) return el("p", { class: "constraints" }, "None");
  const order = Object.keys(CONSTRAINTS);
  names.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  const value = (name, v) => {
    if (MONEY_CONSTRAINTS.has(name)) return usd(v);
    if (name === "rate_limit") return `${v.requests} per ${v.per}`;
    if (name === "metadata") return el("ul", { class: "endpoints" }, Object.entries(v).map(([k, x]) => el("li", {}, el("code", {}, `${k}=${x ?? "any"}`))));
    if (Array.isArray(v)) return v.join(", ");
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  };
  return el(
    "dl",
    { class: "facts constraints" },
    names.flatMap((name) => [el("dt", {}, CONSTRAINTS[name] ?? name, el("code", { class: "why" }, name)), el("dd", {}, value(name, constraints[name]))]),
  );
}

/** One key: its state, spend, constraints and actions (`#key?id=…`). */
function keyView(section, params) {
  const id = params.get("id") ?? "";
  const heading = el("h2", {}, `Key ${id}`);
  const body = el("div");
  section.append(el("p", {}, el("a", { href: "#keys" }, "← All keys")), heading, body);
  const tick = setInterval(() => {
    for (const cell of body.querySelectorAll("[data-expires]")) cell.textContent = duration(Number(cell.dataset.expires) - Date.now());
  }, 1000);
  let missing = false;

  function notFound() {
    missing = true;
    heading.textContent = "Key not found";
    body.replaceChildren(
      el("p", { class: "error", role: "alert" }, id ? `No key has the id "${id}". Check the link, or find the key in the keys list.` : "No key id was given."),
      el("p", {}, el("a", { href: "#keys" }, "Back to the keys")),
    );
    say(id ? `Key ${id} not found.` : "No key id was given.", "error");
  }

  const view = {
    async refresh() {
      if (!id) return notFound();
      const k = await unlessGone(api("GET", `/v1/keys/${encodeURIComponent(id)}`));
      if (!k) return notFound();
      missing = false;
      heading.replaceChildren(k.label, " ", el("span", { class: `badge ${k.status}` }, k.status));
      const fact = (name, ...value) => [el("dt", {}, name), el("dd", {}, ...value)];
      const list = (items, empty) => (items?.length ? el("ul", { class: "endpoints" }, items.map((p) => el("li", {}, el("code", {}, p)))) : el("span", { class: "muted" }, empty));
      body.replaceChildren(
        el(
          "dl",
          { class: "facts" },
          fact("Label", k.label),
          fact("Id", el("code", {}, k.id)),
          fact("Vendor", k.vendor),
          fact("Status", el("span", { class: `badge ${k.status}` }, k.status), k.paused_at && ` since ${time(k.paused_at)}`, k.revoked_at && ` at ${time(k.revoked_at)}`),
          fact("Created", el("time", { datetime: k.created_at }, time(k.created_at))),
          fact("Expires", el("time", { datetime: k.expires_at }, time(k.expires_at)), isLive(k) && [" (in ", el("span", { "data-expires": k.expiresAt }, duration(k.expiresAt - Date.now())), ")"]),
          k.issuer_id !== undefined && fact("Issued by", k.issuer_id ? el("code", {}, k.issuer_id) : "the admin token"),
          k.account_sid && fact("Account SID", el("code", {}, k.account_sid)),
          fact("Allowed endpoints", list(k.allowed_endpoints, "None")),
          fact("Allowed accounts", list(k.allowed_accounts, "None (the platform account only)")),
          fact("Spent today (UTC)", spendBar(k.spent_today_usd ?? 0, k.daily_usd_cap)),
          fact("Held by calls in flight", usd(k.reserved_today_usd)),
          fact("Left today", usd(k.remaining_today_usd)),
          fact("Audit rows not yet written", String(k.audit_pending ?? 0)),
        ),
        el("h3", {}, "Constraints"),
        constraintList(k.constraints),
        el("div", { class: "key-actions" }, keyActions(k, () => view.refresh()), el("a", { href: `#audit?${query({ key_id: k.id })}` }, "Audit log of this key")),
      );
    },
    get live() {
      return !missing;
    },
    stop: () => clearInterval(tick),
  };
  return view;
}

function approvalsView(section, params) {
  const filters = { status: params.get("status") ?? "pending", label_prefix: params.get("label_prefix") ?? "" };
  const form = el(
    "form",
    { class: "filters", "aria-label": "Filter approvals", onsubmit: (e) => e.preventDefault() },
    field("Status", select("status", ["pending", "approved", "denied", "expired", "used", ["", "any"]], filters.status)),
    field("Label prefix", el("input", { name: "label_prefix", value: filters.label_prefix, type: "search", autocomplete: "off" })),
  );
  liveFilters(form, filters, () => view.refresh());
  const body = el("tbody");
  section.append(
    el("h2", {}, "Approvals"),
    el("p", { class: "muted" }, "Calls above a key's approval threshold wait here. Approving lets that exact request through once, on the cost already held; denying releases it."),
    form,
    dataTable("approvals", "Approvals", ["Label", "Request", "Amount", "Customer or recipients", "Run", "Status", "Time left", "Decision"], body),
  );
  const tick = setInterval(() => {
    for (const cell of body.querySelectorAll("[data-expires]")) cell.textContent = duration(Number(cell.dataset.expires) - Date.now());
  }, 1000);

  async function decide(a, step, note) {
    await api("POST", `/v1/approvals/${encodeURIComponent(a.id)}/${step}`, note ? { note } : {});
    say(`${step === "approve" ? "Approved" : "Denied"} ${usd(a.cost_usd)} for ${a.label}.`);
    await view.refresh();
  }

  function amount(a) {
    const r = a.request;
    const native = r.amount !== null && r.currency ? `${(r.amount / 100).toFixed(2)} ${r.currency.toUpperCase()}` : null;
    return el("span", {}, usd(a.cost_usd), native && el("span", { class: "why" }, native));
  }

  function decision(a) {
    if (a.status !== "pending") return el("span", { class: "why" }, [a.decided_by, a.note].filter(Boolean).join(": ") || "–");
    const note = el("input", { type: "text", name: "note", maxlength: 500, placeholder: "note (optional)", "aria-label": `Note for ${a.label}` });
    return el(
      "div",
      { class: "decide" },
      note,
      el("button", { type: "button", class: "small", "aria-label": `Approve ${a.label}`, onclick: () => decide(a, "approve", note.value.trim()).catch(failed) }, "Approve"),
      el("button", { type: "button", class: "danger small", "aria-label": `Deny ${a.label}`, onclick: () => decide(a, "deny", note.value.trim()).catch(failed) }, "Deny"),
    );
  }

  const view = {
    async refresh() {
      // A note being typed survives the refresh: only redraw when idle.
      if (body.contains(document.activeElement) && document.activeElement.name === "note") return;
      const res = await api("GET", `/v1/approvals?${query({ ...filters, limit: 200 })}`);
      body.replaceChildren(
        ...res.data.map((a) =>
          el(
            "tr",
            {},
            el("td", {}, el("a", { href: `#audit?${query({ key_id: a.key_id })}` }, a.label), el("span", { class: "why" }, a.vendor)),
            el("td", {}, el("code", {}, `${a.request.method} ${a.request.path}`)),
            el("td", { class: "num" }, amount(a)),
            el("td", {}, [a.request.customer, ...a.request.recipients].filter(Boolean).join(", ") || "–"),
            el("td", {}, a.request.run_id ?? "–"),
            el("td", {}, el("span", { class: `badge ${a.status}` }, a.status)),
            el("td", a.status === "pending" || a.status === "approved" ? { "data-expires": a.expiresAt } : {}, a.status === "pending" || a.status === "approved" ? duration(a.expiresAt - Date.now()) : "–"),
            el("td", {}, decision(a)),
          ),
        ),
      );
      if (!res.data.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "Nothing waits for you.")));
    },
    stop: () => clearInterval(tick),
  };
  return view;
}

const EVENT_TYPES = ["approval.requested", "key.spend_threshold", "budget.spend_threshold", "key.revoked", "issuer.revoked", "key.denied_burst"];

function webhooksView(section) {
  const form = el(
    "form",
    { class: "filters", "aria-label": "Register a webhook" },
    field("Endpoint URL", el("input", { name: "url", type: "url", required: true, placeholder: "https://", autocomplete: "off" })),
    field("Events", select("events", [["*", "all events"], ...EVENT_TYPES], "*")),
    field("Label prefix", el("input", { name: "label_prefix", type: "text", autocomplete: "off" })),
    el("button", { type: "submit" }, "Register"),
  );
  const secret = el("p", { class: "card", hidden: true, role: "status" });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const body = { url: form.elements.url.value.trim(), events: [form.elements.events.value] };
      const prefix = form.elements.label_prefix.value.trim();
      if (prefix) body.label_prefix = prefix;
      const hook = await api("POST", "/v1/webhooks", body);
      secret.replaceChildren("Signing secret for ", el("code", {}, hook.url), " (shown once: store it now): ", el("code", { id: "webhook-secret" }, hook.secret));
      secret.hidden = false;
      form.reset();
      await view.refresh();
    } catch (err) {
      failed(err);
    }
  });
  const list = el("div");
  section.append(el("h2", {}, "Webhooks"), form, secret, list);

  async function remove(hook) {
    const ok = await confirmDialog(`Delete the webhook to ${hook.url}?`, "No event is sent to it after this.", "Delete webhook");
    if (!ok) return;
    await api("DELETE", `/v1/webhooks/${encodeURIComponent(hook.id)}`);
    say(`Deleted the webhook to ${hook.url}.`);
    await view.refresh();
  }

  const view = {
    async refresh() {
      const { data } = await api("GET", "/v1/webhooks");
      const detailed = await Promise.all(data.map((h) => api("GET", `/v1/webhooks/${encodeURIComponent(h.id)}`)));
      list.replaceChildren(
        ...detailed.map((h) =>
          el(
            "section",
            { class: "hook", "aria-label": `Webhook ${h.url}` },
            el("h3", {}, el("code", {}, h.url)),
            el("p", { class: "muted" }, `${h.events.join(", ")}${h.label_prefix ? ` · labels starting with "${h.label_prefix}"` : ""}`),
            el("button", { type: "button", class: "danger small", "aria-label": `Delete the webhook to ${h.url}`, onclick: () => remove(h).catch(failed) }, "Delete"),
            el(
              "div",
              { class: "scroll" },
              el(
                "table",
                {},
                el("thead", {}, el("tr", {}, ["When", "Event", "Attempt", "Status", "Answer"].map((t) => el("th", { scope: "col" }, t)))),
                el(
                  "tbody",
                  {},
                  h.deliveries.length
                    ? h.deliveries.map((d) =>
                        el("tr", {}, el("td", {}, el("time", { datetime: d.at }, time(d.at))), el("td", {}, d.event_type, el("span", { class: "why" }, d.event_id)), el("td", { class: "num" }, String(d.attempt)), el("td", {}, el("span", { class: `badge ${d.status}` }, d.status)), el("td", {}, d.response_status ?? d.error ?? "–")),
                      )
                    : el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No deliveries yet.")),
                ),
              ),
            ),
          ),
        ),
      );
      if (!detailed.length) list.append(el("p", { class: "muted" }, "No webhooks yet."));
    },
  };
  return view;
}

/** A whole number as a number (so the API can check it), anything else as typed. */
const whole = (text) => (/^\d+$/.test(text.trim()) ? Number(text.trim()) : text.trim());

function issuersView(section) {
  const vendors = el(
    "fieldset",
    { class: "checks" },
    el("legend", {}, "Vendors"),
    VENDORS.map((v) => el("label", {}, el("input", { type: "checkbox", name: "vendors", value: v }), v)),
  );
  const optional = (text, name, placeholder) => field(text, el("input", { name, autocomplete: "off", placeholder }));
  const form = el(
    "form",
    { class: "create", "aria-label": "Create an issuer" },
    field("Label", el("input", { name: "label", required: true, maxlength: 200, autocomplete: "off" })),
    vendors,
    field("Endpoint ceiling (one pattern per line)", el("textarea", { name: "endpoint_ceiling", rows: 3, required: true, spellcheck: "false", placeholder: "POST /v1/payment_intents\n/v1/payment_intents/**" })),
    field("Max daily cap per key (USD)", el("input", { name: "max_daily_usd_cap", inputmode: "decimal", required: true, autocomplete: "off" })),
    field("Max live keys", el("input", { name: "max_live_keys", type: "number", min: 1, max: 1000000, step: 1, required: true })),
    field("Max daily spend, all keys together (USD)", el("input", { name: "max_daily_spend_usd", inputmode: "decimal", required: true, autocomplete: "off" })),
    optional("Max total spend, all keys (USD, optional)", "max_total_spend_usd"),
    optional("Max key lifetime (optional)", "max_ttl", "e.g. 1h"),
    optional("Label prefix its keys must have (optional)", "label_prefix"),
    optional("Token lifetime (optional; empty: until revoked)", "expires_in", "e.g. 30d"),
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "can_approve" }), "May approve or deny its own keys' approvals"),
    el("button", { type: "submit" }, "Create issuer"),
  );
  const token = el("p", { class: "card", hidden: true, role: "status" });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearInvalid(form);
    const f = form.elements;
    const chosen = [...form.querySelectorAll("input[name=vendors]:checked")].map((c) => c.value);
    if (!chosen.length) {
      say("Choose at least one vendor the issuer may issue keys for.", "error");
      f.namedItem("vendors")[0].setAttribute("aria-invalid", "true");
      f.namedItem("vendors")[0].focus();
      return;
    }
    const body = {
      label: f.label.value.trim(),
      vendors: chosen,
      endpoint_ceiling: f.endpoint_ceiling.value.split("\n").map((p) => p.trim()).filter(Boolean),
      max_daily_usd_cap: f.max_daily_usd_cap.value.trim(),
      max_live_keys: whole(f.max_live_keys.value),
      max_daily_spend_usd: f.max_daily_spend_usd.value.trim(),
    };
    for (const name of ["max_total_spend_usd", "max_ttl", "label_prefix", "expires_in"]) {
      const v = f[name].value.trim();
      if (v) body[name] = v;
    }
    if (f.can_approve.checked) body.can_approve = true;
    try {
      const issuer = await api("POST", "/v1/issuers", body);
      token.replaceChildren("Token of ", el("strong", {}, issuer.label), " (shown once, never again: store it now): ", el("code", { id: "issuer-token" }, issuer.token));
      token.hidden = false;
      form.reset();
      say(`Created the issuer ${issuer.label}.`);
      await view.refresh();
    } catch (err) {
      formFailed(form, err, "Could not create the issuer");
    }
  });
  const body = el("tbody");
  section.append(
    el("h2", {}, "Issuers"),
    el("p", { class: "muted" }, "An issuer token lets an agent's Worker mint its own keys, only inside the ceilings set here. Revoking it revokes every key it issued."),
    form,
    token,
    dataTable("issuers", "Issuers", ["Label", "Status", "Vendors", "Endpoint ceiling", "Per-key cap", "Live keys", "Daily spend ceiling", "Created", ""], body),
  );

  async function revoke(issuer, live) {
    const ok = await confirmDialog(
      `Revoke the issuer ${issuer.label}?`,
      `Its token stops working now, and every live key it issued${live === undefined ? "" : ` (${live} now)`} is revoked with it: agents holding them are refused from their next call.`,
      "Revoke issuer",
    );
    if (!ok) return;
    const res = await api("DELETE", `/v1/issuers/${encodeURIComponent(issuer.id)}`);
    say(`Revoked ${res.label} and its ${res.revoked_keys} key${res.revoked_keys === 1 ? "" : "s"}.`);
    await view.refresh();
  }

  function limits(i) {
    return [
      i.label_prefix && `labels start with "${i.label_prefix}"`,
      `keys live at most ${i.max_ttl}`,
      i.expires_at && `token expires ${time(i.expires_at)}`,
      i.can_approve && "may approve its keys' calls",
    ]
      .filter(Boolean)
      .join(" · ");
  }

  const view = {
    async refresh() {
      const { data } = await api("GET", "/v1/issuers");
      const detailed = await Promise.all(data.map((i) => (i.status === "active" ? unlessGone(api("GET", `/v1/issuers/${encodeURIComponent(i.id)}`)) : null)));
      body.replaceChildren(
        ...data.map((i, n) => {
          const live = detailed[n]?.live_keys;
          return el(
            "tr",
            {},
            el("td", {}, el("strong", {}, i.label), el("code", { class: "why" }, i.id), el("span", { class: "why" }, limits(i))),
            el("td", {}, el("span", { class: `badge ${i.status}` }, i.status)),
            el("td", {}, i.vendors.join(", ")),
            el("td", {}, el("ul", { class: "endpoints" }, i.endpoint_ceiling.map((p) => el("li", {}, el("code", {}, p))))),
            el("td", { class: "num" }, usd(i.max_daily_usd_cap), i.max_total_usd_cap !== null && i.max_total_usd_cap !== undefined && el("span", { class: "why" }, `${usd(i.max_total_usd_cap)} lifetime`)),
            el("td", { class: "num" }, live === undefined ? `– / ${i.max_live_keys}` : `${live} / ${i.max_live_keys}`),
            el("td", { class: "num" }, i.max_daily_spend_usd === null ? "–" : usd(i.max_daily_spend_usd), i.max_total_spend_usd !== null && i.max_total_spend_usd !== undefined && el("span", { class: "why" }, `${usd(i.max_total_spend_usd)} in all`)),
            el("td", {}, el("time", { datetime: i.created_at }, time(i.created_at))),
            el(
              "td",
              { class: "actions" },
              i.status === "active" && el("button", { type: "button", class: "danger small", "aria-label": `Revoke the issuer ${i.label}`, onclick: () => revoke(i, live).catch(failed) }, "Revoke"),
            ),
          );
        }),
      );
      if (!data.length) body.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No issuers yet.")));
    },
  };
  return view;
}

function budgetsView(section) {
  const form = el(
    "form",
    { class: "filters", "aria-label": "Set a budget" },
    field("Vendor", select("vendor", VENDORS, "stripe")),
    field("Label prefix (optional)", el("input", { name: "label_prefix", autocomplete: "off", maxlength: 200 })),
    field("Daily cap (USD)", el("input", { name: "daily_usd_cap", inputmode: "decimal", required: true, autocomplete: "off" })),
    el("button", { type: "submit" }, "Set budget"),
  );
  const scope = (b) => (b.label_prefix ? `${b.vendor} ${b.label_prefix}` : `${b.vendor}, any label`);

  /** Creates the budget of this vendor and prefix, or sets its cap. */
  async function set(vendor, labelPrefix, cap) {
    const req = { vendor, daily_usd_cap: cap };
    if (labelPrefix) req.label_prefix = labelPrefix;
    const res = await api("POST", "/v1/budgets", req);
    const n = res.attached_keys;
    say(`Budget set: ${usd(res.daily_usd_cap)} a day for ${res.vendor}/${res.label_prefix ?? "any label"}; it now binds ${n} live key${n === 1 ? "" : "s"}.`);
    await view.refresh(true);
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearInvalid(form);
    try {
      await set(form.elements.vendor.value, form.elements.label_prefix.value.trim(), form.elements.daily_usd_cap.value.trim());
      form.reset();
    } catch (err) {
      formFailed(form, err, "Could not set the budget");
    }
  });
  const body = el("tbody");
  section.append(
    el("h2", {}, "Budgets"),
    el("p", { class: "muted" }, "A budget caps what every key of a vendor (and, optionally, a label prefix) spends together in a UTC day, on top of each key's own cap."),
    form,
    dataTable("budgets", "Budgets", ["Vendor", "Label prefix", "Daily cap", "Leased today (UTC)", "Keys today", "Created", ""], body),
    el("p", { class: "muted" }, "Leased is an upper bound on today's spend: keys lease from the budget in blocks and hand back what they do not spend."),
  );

  async function remove(b) {
    const ok = await confirmDialog(`Delete the budget for ${scope(b)}?`, `Its keys are no longer held to ${usd(b.daily_usd_cap)} a day together (each key's own cap still holds).`, "Delete budget");
    if (!ok) return;
    await api("DELETE", `/v1/budgets/${encodeURIComponent(b.id)}`);
    say(`Deleted the budget for ${scope(b)}.`);
    await view.refresh(true);
  }

  function newCap(b) {
    const input = el("input", { name: "cap", inputmode: "decimal", required: true, autocomplete: "off", size: 7, placeholder: usd(b.daily_usd_cap), "aria-label": `New cap for ${scope(b)}` });
    return el(
      "form",
      {
        class: "inline",
        "aria-label": `Raise or lower the budget for ${scope(b)}`,
        onsubmit: (e) => {
          e.preventDefault();
          input.removeAttribute("aria-invalid");
          set(b.vendor, b.label_prefix, input.value.trim()).catch((err) => {
            failed(err, `Could not change the budget for ${scope(b)}`);
            input.setAttribute("aria-invalid", "true");
            input.focus();
          });
        },
      },
      input,
      el("button", { type: "submit", class: "small", "aria-label": `Save the new cap for ${scope(b)}` }, "Save"),
    );
  }

  const view = {
    async refresh(force) {
      // A new cap being typed survives the refresh: only redraw when idle.
      const typing = [...body.querySelectorAll("input[name=cap]")].some((i) => i.value || i === document.activeElement);
      if (typing && !force) return;
      const { data } = await api("GET", "/v1/budgets");
      const detailed = await Promise.all(data.map((b) => unlessGone(api("GET", `/v1/budgets/${encodeURIComponent(b.id)}`))));
      body.replaceChildren(
        ...data.map((b, n) => {
          const d = detailed[n];
          return el(
            "tr",
            {},
            el("td", {}, b.vendor),
            el("td", {}, b.label_prefix ? el("code", {}, b.label_prefix) : el("span", { class: "muted" }, "any label")),
            el("td", { class: "num" }, usd(b.daily_usd_cap)),
            el("td", {}, d ? spendBar(d.leased_today_usd, b.daily_usd_cap, "leased") : "–"),
            el("td", { class: "num" }, d ? String(d.keys_today) : "–"),
            el("td", {}, el("time", { datetime: b.created_at }, time(b.created_at))),
            el("td", { class: "actions" }, newCap(b), el("button", { type: "button", class: "danger small", "aria-label": `Delete the budget for ${scope(b)}`, onclick: () => remove(b).catch(failed) }, "Delete")),
          );
        }),
      );
      if (!data.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No budgets: only each key's own cap holds.")));
    },
  };
  return view;
}

function spendBar(spent, cap, word = "spent") {
  const ratio = cap > 0 ? Math.min(1, spent / cap) : 0;
  const level = ratio >= 0.9 ? "high" : ratio >= 0.6 ? "mid" : "low";
  const fill = el("div", { class: `fill ${level}` });
  // Set through the CSSOM: the CSP allows no inline style attributes.
  fill.style.width = `${(ratio * 100).toFixed(1)}%`;
  return el(
    "div",
    { class: "spend", role: "img", "aria-label": `${usd(spent)} of ${usd(cap)} ${word} today` },
    el("div", { class: "bar" }, fill),
    el("span", {}, `${usd(spent)} / ${usd(cap)}`),
  );
}

function spendView(section) {
  const settings = { range: "24h", group: "vendor" };
  const form = el(
    "form",
    { class: "filters", "aria-label": "Spend chart", onsubmit: (e) => e.preventDefault() },
    field("Range", select("range", [["24h", "last 24 hours, by hour"], ["7d", "last 7 days, by day"], ["30d", "last 30 days, by day"]], settings.range)),
    field("Group by", select("group", ["vendor", "label"], settings.group)),
  );
  form.addEventListener("change", () => {
    settings.range = form.elements.range.value;
    settings.group = form.elements.group.value;
    view.refresh().catch(failed);
  });
  const chart = el("figure", { class: "chart" });
  const top = el("tbody");
  const usage = usageSection();
  section.append(
    el("h2", {}, "Spend"),
    form,
    chart,
    el("h3", {}, "Top spenders today (UTC)"),
    dataTable("spenders", "Top spenders today (UTC)", ["Label", "Key", "Vendor", "Spent", "Calls"], top),
    usage.section,
  );

  const view = {
    async refresh() {
      await Promise.all([drawSpend(), usage.refresh()]);
    },
  };

  async function drawSpend() {
    const hours = { "24h": 24, "7d": 168, "30d": 720 }[settings.range];
    const bucketMs = settings.range === "24h" ? 3_600_000 : 86_400_000;
    const now = Date.now();
    const start = Math.floor((now - hours * 3_600_000) / bucketMs) * bucketMs + bucketMs;
    const { rows, complete } = await all("/v1/audit", { decision: "allowed", since: start, limit: 1000 });
    drawChart(chart, rows, { start, end: now, bucketMs, group: settings.group, complete });

    const midnight = Math.floor(now / 86_400_000) * 86_400_000;
    const today = new Map();
    for (const r of rows) {
      if (Date.parse(r.created_at) < midnight || !r.key_id) continue;
      const t = today.get(r.key_id) ?? { label: r.label, key: r.key_id, vendor: r.vendor, spent: 0, calls: 0 };
      t.spent += r.cost_usd;
      t.calls += 1;
      today.set(r.key_id, t);
    }
    const ranked = [...today.values()].sort((a, b) => b.spent - a.spent).slice(0, 10);
    top.replaceChildren(
      ...ranked.map((t) =>
        el("tr", {}, el("td", {}, t.label ?? "–"), el("td", {}, el("a", { href: `#audit?${query({ key_id: t.key })}` }, t.key)), el("td", {}, t.vendor ?? "–"), el("td", { class: "num" }, usd(t.spent)), el("td", { class: "num" }, String(t.calls))),
      ),
    );
    if (!ranked.length) top.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No spend today.")));
  }
  return view;
}

/** Calls and spend per label, vendor, UTC day or key over a period, as `GET /v1/usage` sums them. */
function usageSection() {
  // Keyed by the controls' names (unique on the Spend view), for liveFilters.
  const settings = { usage_period: "today", usage_by: "label", usage_vendor: "", usage_label_prefix: "" };
  const form = el(
    "form",
    { class: "filters", "aria-label": "Usage", onsubmit: (e) => e.preventDefault() },
    field("Usage period", select("usage_period", [["today", "today (UTC)"], ["7d", "last 7 days"], ["30d", "last 30 days"]], settings.usage_period)),
    field("Usage by", select("usage_by", ["label", "vendor", "day", "key"], settings.usage_by)),
    field("Usage vendor", select("usage_vendor", [["", "any"], ...VENDORS], "")),
    field("Usage label prefix", el("input", { name: "usage_label_prefix", type: "search", autocomplete: "off" })),
  );
  liveFilters(form, settings, () => refresh());
  const caption = el("caption", { class: "visually-hidden" }, "Usage");
  const head = el("thead");
  const body = el("tbody");
  const foot = el("tfoot");
  const note = el("p", { class: "muted" });
  const section = el("section", { "aria-labelledby": "usage-title" }, el("h3", { id: "usage-title" }, "Usage"), form, el("div", { class: "scroll" }, el("table", { class: "usage" }, caption, head, body, foot)), note);
  const HEADS = { key_id: "Key", label: "Label", vendor: "Vendor", day: "Day (UTC)" };
  const SHOWN = 200;

  function group(r, name) {
    const v = r[name];
    if (v === null || v === undefined) return el("span", { class: "muted" }, "(none)");
    if (name === "key_id") return [el("a", { href: `#key?${query({ id: v })}` }, el("code", {}, v)), r.label !== null && r.label !== undefined && el("span", { class: "why" }, r.label)];
    return v;
  }

  async function refresh() {
    const DAY = 86_400_000;
    const days = { today: 1, "7d": 7, "30d": 30 }[settings.usage_period];
    const since = Math.floor(Date.now() / DAY) * DAY - (days - 1) * DAY;
    const res = await api("GET", `/v1/usage?${query({ group_by: settings.usage_by, since, vendor: settings.usage_vendor, label_prefix: settings.usage_label_prefix })}`);
    const name = res.group_by;
    caption.textContent = `Usage per ${settings.usage_by}, largest spend first`;
    head.replaceChildren(el("tr", {}, [HEADS[name] ?? name, "Calls", "Allowed", "Denied", "Spend"].map((h) => el("th", { scope: "col" }, h))));
    const rows = res.data.slice(0, SHOWN);
    body.replaceChildren(
      ...rows.map((r) =>
        el("tr", {}, el("td", {}, group(r, name)), el("td", { class: "num" }, String(r.calls)), el("td", { class: "num" }, String(r.allowed)), el("td", { class: "num" }, String(r.denied)), el("td", { class: "num" }, usd(r.cost_usd))),
      ),
    );
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No calls in this period.")));
    const sum = (k) => res.data.reduce((s, r) => s + r[k], 0);
    foot.replaceChildren(
      el("tr", { class: "total" }, el("th", { scope: "row" }, "Total"), el("td", { class: "num" }, String(res.total.calls)), el("td", { class: "num" }, String(sum("allowed"))), el("td", { class: "num" }, String(sum("denied"))), el("td", { class: "num" }, usd(res.total.cost_usd))),
    );
    note.textContent = `From ${time(res.since)} to ${time(res.until)}${res.data.length > SHOWN ? `; the ${SHOWN} largest of ${res.data.length} shown, the total counts them all` : ""}.`;
  }

  return { section, refresh };
}

/** Stacked bars of spend per bucket and group, drawn as SVG elements. */
function drawChart(figure, rows, { start, end, bucketMs, group, complete }) {
  const buckets = Math.max(1, Math.ceil((end - start) / bucketMs));
  const totals = new Map();
  const perBucket = Array.from({ length: buckets }, () => new Map());
  for (const r of rows) {
    const i = Math.floor((Date.parse(r.created_at) - start) / bucketMs);
    if (i < 0 || i >= buckets || !r.cost_usd) continue;
    const g = (group === "label" ? r.label : r.vendor) ?? "(none)";
    perBucket[i].set(g, (perBucket[i].get(g) ?? 0) + r.cost_usd);
    totals.set(g, (totals.get(g) ?? 0) + r.cost_usd);
  }
  const groups = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const shown = groups.slice(0, COLORS.length - 1);
  const color = (g) => COLORS[shown.indexOf(g)] ?? COLORS[COLORS.length - 1];
  const max = Math.max(0.01, ...perBucket.map((b) => [...b.values()].reduce((s, v) => s + v, 0)));
  const W = 1000;
  const H = 240;
  const pad = { l: 56, b: 24, t: 8, r: 8 };
  const bw = (W - pad.l - pad.r) / buckets;
  const y = (v) => (v / max) * (H - pad.t - pad.b);
  const label = (t) => (bucketMs === 86_400_000 ? new Date(t).toISOString().slice(5, 10) : `${new Date(t).getHours()}h`);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Spend by ${group}, total ${usd([...totals.values()].reduce((s, v) => s + v, 0))}` });
  svg.append(
    el("svg:text", { x: 4, y: pad.t + 10, class: "axis" }, usd(max)),
    el("svg:text", { x: 4, y: H - pad.b, class: "axis" }, "$0"),
    el("svg:line", { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, class: "baseline" }),
  );
  perBucket.forEach((b, i) => {
    let base = H - pad.b;
    for (const g of groups) {
      const v = b.get(g);
      if (!v) continue;
      const h = y(v);
      base -= h;
      svg.append(el("svg:rect", { x: pad.l + i * bw + 1, y: base, width: Math.max(1, bw - 2), height: h, fill: color(g) }, el("svg:title", {}, `${g}: ${usd(v)}`)));
    }
    const step = Math.ceil(buckets / 8);
    if (i % step === 0) svg.append(el("svg:text", { x: pad.l + i * bw, y: H - 6, class: "axis" }, label(start + i * bucketMs)));
  });
  const legend = el("ul", { class: "legend" }, [...shown, ...(groups.length > shown.length ? ["other"] : [])].map((g) => el("li", {}, el("span", { class: "swatch", "data-color": g === "other" ? COLORS.at(-1) : color(g) }), `${g}: ${usd(g === "other" ? groups.slice(shown.length).reduce((s, x) => s + totals.get(x), 0) : totals.get(g))}`)));
  figure.replaceChildren(
    svg,
    el("figcaption", {}, groups.length ? `Spend by ${group}${complete ? "" : " (the most recent 20,000 calls only)"}` : "No spend in this range."),
    legend,
  );
  // Colours come from data attributes: the CSP allows no inline styles.
  for (const s of legend.querySelectorAll("[data-color]")) s.style.background = s.dataset.color;
}

function auditView(section, params) {
  const filters = Object.fromEntries(["key_id", "label", "vendor", "decision", "run_id", "trace_id", "since", "until"].map((k) => [k, params.get(k) ?? ""]));
  const cursors = [undefined];
  let page = 0;
  const form = el(
    "form",
    {
      class: "filters",
      "aria-label": "Filter the audit log",
      onsubmit: (e) => {
        e.preventDefault();
        for (const k of Object.keys(filters)) filters[k] = form.elements[k].value;
        location.hash = `audit?${query(filters)}`;
      },
    },
    field("Key id", el("input", { name: "key_id", value: filters.key_id, autocomplete: "off" })),
    field("Label", el("input", { name: "label", value: filters.label, autocomplete: "off" })),
    field("Vendor", select("vendor", [["", "any"], ...VENDORS], filters.vendor)),
    field("Decision", select("decision", [["", "any"], "allowed", "denied"], filters.decision)),
    field("Run id", el("input", { name: "run_id", value: filters.run_id, autocomplete: "off" })),
    field("Trace id", el("input", { name: "trace_id", value: filters.trace_id, autocomplete: "off" })),
    field("Since", el("input", { name: "since", type: "datetime-local", value: filters.since })),
    field("Until", el("input", { name: "until", type: "datetime-local", value: filters.until })),
    el("button", { type: "submit" }, "Apply"),
  );
  const body = el("tbody");
  const newer = el("button", { type: "button", class: "quiet", onclick: () => go(page - 1) }, "← Newer");
  const older = el("button", { type: "button", class: "quiet", onclick: () => go(page + 1) }, "Older →");
  section.append(
    el("h2", {}, filters.key_id ? `Audit of ${filters.key_id}` : "Audit"),
    form,
    dataTable("audit", "Audit log, newest first", ["Time", "Key", "Label", "Vendor", "Call", "Decision", "Why", "Vendor status", "Cost"], body),
    el("nav", { class: "pager", "aria-label": "Audit pages" }, newer, older),
  );

  const apiParams = () => ({
    ...filters,
    since: filters.since ? new Date(filters.since).toISOString() : undefined,
    until: filters.until ? new Date(filters.until).toISOString() : undefined,
    limit: 50,
  });

  async function go(n) {
    if (n < 0 || n >= cursors.length) return;
    page = n;
    await view.refresh().catch(failed);
  }

  const view = {
    async refresh() {
      const res = await api("GET", `/v1/audit?${query({ ...apiParams(), cursor: cursors[page] })}`);
      cursors[page + 1] = res.next_cursor ?? undefined;
      cursors.length = res.next_cursor ? page + 2 : page + 1;
      newer.disabled = page === 0;
      older.disabled = !res.next_cursor;
      body.replaceChildren(
        ...res.data.map((r) =>
          el(
            "tr",
            { class: r.decision },
            el("td", {}, el("time", { datetime: r.created_at }, time(r.created_at))),
            el("td", {}, r.key_id ? el("a", { href: `#audit?${query({ key_id: r.key_id })}` }, r.key_id) : "–"),
            el("td", {}, r.label ?? "–"),
            el("td", {}, r.vendor ?? "–"),
            el("td", {}, el("code", {}, `${r.method} ${r.path}`)),
            el("td", {}, el("span", { class: `badge ${r.decision}` }, r.decision)),
            el("td", {}, r.code ? [el("strong", {}, r.code), r.message ? el("span", { class: "why" }, r.message) : null] : r.message ?? ""),
            el("td", {}, r.upstream_status ?? "–"),
            el("td", { class: "num" }, usd(r.cost_usd)),
          ),
        ),
      );
      if (!res.data.length) body.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No calls match.")));
    },
    // Auto-refresh only the newest page: an operator reading older pages keeps them.
    get live() {
      return page === 0;
    },
  };
  return view;
}

/** A labelled control; `scope` keeps ids apart when two forms on a view share a name. */
function field(text, control, scope = "f") {
  const id = `${scope}-${control.getAttribute("name")}`;
  control.id = id;
  return el("div", { class: "field" }, el("label", { for: id }, text), control);
}

/** A scrolling table with a caption for screen readers and a header row. */
function dataTable(cls, caption, headers, body) {
  return el(
    "div",
    { class: "scroll" },
    el("table", { class: cls }, el("caption", { class: "visually-hidden" }, caption), el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))), body),
  );
}

/** Copies a filter form's fields into `filters` as they are typed, refreshing the view shortly after. */
function liveFilters(form, filters, refresh) {
  form.addEventListener("input", () => {
    for (const k of Object.keys(filters)) filters[k] = form.elements[k].value;
    clearTimeout(form.pending);
    form.pending = setTimeout(() => refresh().catch(failed), 250);
  });
}

function select(name, options, value) {
  return el(
    "select",
    { name },
    options.map((o) => {
      const [v, text] = Array.isArray(o) ? o : [o, o];
      return el("option", { value: v, selected: v === value }, text);
    }),
  );
}

// ---------------------------------------------------------------- sign-in

let refresher;

function signedIn() {
  $("sign-in").hidden = true;
  $("view").hidden = false;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  route();
  clearInterval(refresher);
  refresher = setInterval(() => {
    if (document.hidden || !current || current.live === false) return;
    current.refresh().catch(failed);
  }, REFRESH_MS);
}

function signOut(message = "Signed out.") {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(refresher);
  current?.stop?.();
  current = null;
  $("view").replaceChildren();
  $("view").hidden = true;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("token").value = "";
  say(message);
  $("token").focus();
}

$("sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  $("sign-in-error").textContent = "";
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    await api("GET", "/v1/keys?limit=1");
    $("token").value = "";
    say("Signed in.");
    signedIn();
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("sign-in-error").textContent = err instanceof Unauthorized ? "That token was refused." : `Keybrake did not answer: ${err.message}`;
  }
});
$("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => current && route());

if (sessionStorage.getItem(TOKEN_KEY)) signedIn();
