// Writes docs/reliability.md from the results of scripts/fuzz.sh.
// Usage: node scripts/write-reliability.mjs <date> <commit> <proptest cases>
//        <proptest summary> <schemathesis examples> <schemathesis summary>
//        <server errors> <soak results file>
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";

const [date, commit, propCases, propSummary, stExamples, stSummary, serverErrors, soakFile] = process.argv.slice(2);
const soak = readFileSync(soakFile, "utf8").trim().split("\n").filter(Boolean);
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

const doc = `# Reliability: what holds, and how it is shown

Keybrake's promise is that a vault key never spends more than its cap, that
a revoked key is dead at once, and that every call is in the audit log. Each
property below is shown by a test on the real runtime (the built Worker in
workerd through Miniflare, or under \`wrangler dev\`, with real Durable
Objects and D1; only the vendors are fakes). The fast tests run in
\`scripts/test.sh\`; the long runs are \`scripts/fuzz.sh\`, which wrote the
results at the end of this page.

## The properties

| property | how it holds | shown by |
| --- | --- | --- |
| **No overspend** | Every spend decision for a key is one synchronous block of SQLite statements in that key's Durable Object: read today's committed spend, compare with the cap, write the reservation. No \`await\` inside, so concurrent calls are decided one after another. | \`tests/reliability.test.mjs\` "repeated bursts…": 200 concurrent calls of mixed cost per burst, two bursts per vendor (Stripe amounts, Twilio segments, Resend recipients), caps landing mid-burst, a slow vendor; what reached the fake vendor ≤ cap, = recorded spend, = audit costs; exactly the allowed calls reached it. "a denied call never fits": 300 calls, every denied call would still not fit. \`tests/spend.test.mjs\`: 100 × $10 against $100 → exactly 10. |
| **Midnight** | The ledger is per UTC day (the day of the call's instant); the clock is injectable in test configuration only. | "the daily cap resets at UTC midnight": 10 calls at 23:59:59.999 and 10 at 00:00:00.000 in one burst → exactly 5 + 5; expiry exact to the millisecond. |
| **No phantom spend** | A vendor 4xx releases the reservation before the client hears back. Forwarding and settlement run as a task kept alive with \`waitUntil\`, so a client that disconnects does not stop settlement; a client gone before forwarding (\`request.signal\`) releases at once. A reservation never settled (the Worker cut off) is resolved by the key's alarm after \`KEYBRAKE_SETTLE_DEADLINE_MS\` (2 min by default); a restarted object resolves overdue ones on its first event. | "a call the vendor rejects…" (40 concurrent declines, then the whole cap is usable); "a client that disconnects mid-call…"; "a call whose Worker never settles…" (resolved within the deadline, audited \`unsettled\`); \`tests/restart.test.mjs\`. |
| **Ambiguous outcomes** | Rule: a 5xx, a timeout (\`KEYBRAKE_UPSTREAM_TIMEOUT_MS\`, 60 s) or a lost connection **keeps** the reservation, because the vendor may have moved money; so does a reservation never settled. The audit row says which (\`upstream_error\`, \`upstream_unreachable\`, \`unsettled\`). Only a 4xx, or a call never sent, releases. | "a 5xx or a vendor timeout keeps its reservation…", \`tests/spend.test.mjs\` "a 5xx keeps…". |
| **Idempotent retries** | The key's object remembers each \`Idempotency-Key\` with a fingerprint of method, path and body; an identical retry while the first is held or kept rides free. | \`tests/spend.test.mjs\` (sequential and 10 concurrent first attempts), \`tests/vendors.test.mjs\` (Resend). |
| **Revocation has no window** | Every proxied call asks the key's object first; revocation is recorded there before the API answers, and the API answers only once the object holds no reservation, so no call allowed before it reaches the vendor after it. | "after revoke-all returns under load, zero calls reach the vendor" (12 loops on 4 keys, fake vendor timestamps arrivals), "DELETE of one key under load", \`tests/proxy.test.mjs\`, \`tests/keys.test.mjs\`. |
| **Audit complete** | The audit row is written in the same block as the decision, in the object's storage, and flushed to D1 by its alarm in idempotent batches (\`INSERT OR IGNORE\` by request id), retried with backoff while D1 fails. | "rows survive a D1 outage" (a test-only switch makes one key's flushes fail: 0 rows in D1, 60 pending; switch off: all 60 arrive, none twice, costs = spend); every load test checks rows = attempts and costs = spend; \`tests/restart.test.mjs\`. |
| **Restart survives** | State lives in Durable Object SQLite and D1, both persisted; a new object instance recovers overdue work on its first event. | \`tests/restart.test.mjs\`: \`wrangler dev\` with persisted state, SIGKILL of its process group mid-load, restart: revocation intact, nothing left held or pending, spend ≥ what Stripe received (by at most the calls in flight), ≤ cap, audit costs = spend, every received call audited, the cap still enforced. |
| **Hostile input** | Paths are matched exactly as forwarded and anything ambiguous is refused (no normalisation); bodies are capped at 1 MiB and parsed strictly; management input is validated field by field. | \`tests/hostile.test.mjs\` (30 path tricks, Host games, oversized bodies and headers, malformed and mistyped input, forged tokens); property tests; schemathesis. |
| **Secrets stay secret** | Tokens are stored only as SHA-256 (in the key's object; D1 holds none); the client's \`Authorization\` is replaced, redirects are not followed; audit rows hold no query string. Admin and token checks compare SHA-256 digests in constant time. | Every Worker test file ends by scanning every response and every log line of its run for the vendor secrets, the admin token and every vault key (allowed only in its own issuance answer); \`tests/audit.test.mjs\`. |

Not shown locally: a client disconnect through Miniflare's HTTP server does
not reach the Worker (its Node proxy keeps the connection to workerd), so
the \`request.signal\` path is exercised only in production; the
disconnect test checks the outcome, which holds either way.

## Last long run

${date}, commit \`${commit}\`, ${machine}.

| run | cases | result |
| --- | --- | --- |
| property tests (\`src/core/proptests.rs\`: paths, patterns, pattern coverage (issuer ceilings), forms, JSON→form, durations, money, instants, tokens, SMS segments) | ${propCases} per property | ${propSummary} |
| schemathesis against \`docs/openapi.json\` (management API; examples, coverage, fuzzing, stateful phases; checks: no 5xx, status codes, response schemas, content types) | ${stExamples} examples per operation | ${stSummary}; server errors: ${serverErrors} |
| reliability + hostile + restart suites, repeated | ${soak.length} rounds | ${soak.join("; ")} |

Bugs these runs found and that are fixed: a duration ending in a multi-byte
character panicked (\`"5é"\`); a form body containing a real U+FFFD was
refused as undecodable; an endpoint pattern longer than any path was
accepted; the issuer and budget routes answered 401/403 where the
description documented neither.
`;
writeFileSync(new URL("../docs/reliability.md", import.meta.url), doc);
