#!/usr/bin/env bash
# Sets up, then runs every test: host unit tests (cargo test) and the Worker
# tests, which run the release build in Miniflare (workerd) with real
# Durable Objects and D1 against a local fake Stripe.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" CI="${CI:-true}" WRANGLER_SEND_METRICS=false

scripts/setup.sh
scripts/setup-browser.sh
scripts/setup-python.sh
cargo test --quiet
scripts/build.sh
scripts/build-clients.sh
node --test --test-concurrency=1 --test-timeout=120000 tests/*.test.mjs
