#!/usr/bin/env bash
# The long runs behind docs/reliability.md: property tests of the pure parsers
# with many cases, schemathesis against the management API's OpenAPI
# description (Keybrake served by Miniflare), and the reliability suite
# repeated. Writes the results into docs/reliability.md.
#
#   scripts/fuzz.sh                  # defaults below
#   PROPTEST_CASES=100000 SCHEMATHESIS_EXAMPLES=500 SOAK_ROUNDS=5 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" CI="${CI:-true}" WRANGLER_SEND_METRICS=false
PROPTEST_CASES="${PROPTEST_CASES:-20000}"
SCHEMATHESIS_EXAMPLES="${SCHEMATHESIS_EXAMPLES:-200}"
SOAK_ROUNDS="${SOAK_ROUNDS:-3}"
SCHEMATHESIS_VERSION=4.32.5
out=$(mktemp -d)
trap 'kill "${serve_pid:-}" 2>/dev/null || true; rm -rf "$out"' EXIT

scripts/setup.sh
scripts/build.sh >/dev/null

echo "== property tests: $PROPTEST_CASES cases each"
PROPTEST_CASES=$PROPTEST_CASES cargo test --quiet proptests 2>&1 | tee "$out/proptest.txt"

echo "== schemathesis $SCHEMATHESIS_VERSION: $SCHEMATHESIS_EXAMPLES examples per operation"
if [ ! -x .venv-fuzz/bin/st ] || ! .venv-fuzz/bin/st --version | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv .venv-fuzz
  .venv-fuzz/bin/pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
node tests/support/serve.mjs > "$out/serve.json" &
serve_pid=$!
for _ in $(seq 1 100); do [ -s "$out/serve.json" ] && break; sleep 0.2; done
url=$(node -pe 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).url' "$out/serve.json")
admin=$(node -pe 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).admin_token' "$out/serve.json")
.venv-fuzz/bin/st run docs/openapi.json --url "$url" -H "Authorization: Bearer $admin" \
  --include-path-regex '^/(v1|healthz)' \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
  --max-examples "$SCHEMATHESIS_EXAMPLES" --workers 2 --seed 1 2>&1 | tee "$out/schemathesis.txt"
kill "$serve_pid"

echo "== reliability suite, $SOAK_ROUNDS rounds"
: > "$out/soak.txt"
for round in $(seq 1 "$SOAK_ROUNDS"); do
  node --test --test-concurrency=1 tests/reliability.test.mjs tests/hostile.test.mjs tests/restart.test.mjs 2>&1 |
    grep -E '^# (pass|fail)' | tr '\n' ' ' | sed "s/^/round $round: /" >> "$out/soak.txt"
  echo >> "$out/soak.txt"
done
cat "$out/soak.txt"

props=$(grep -E '^test result' "$out/proptest.txt" | head -1)
cases=$(grep -E 'generated, .* passed|generated, .* failed' "$out/schemathesis.txt" | tail -1 | sed 's/^ *//')
server_errors=$(grep -c 'Server error' "$out/schemathesis.txt" || true)
node scripts/write-reliability.mjs "$(date -u +%Y-%m-%dT%H:%MZ)" "$(git rev-parse --short HEAD)" \
  "$PROPTEST_CASES" "$props" "$SCHEMATHESIS_EXAMPLES" "$cases" "$server_errors" "$out/soak.txt"
echo "== wrote docs/reliability.md"
