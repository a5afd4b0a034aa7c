#!/usr/bin/env bash
# Builds the release Worker into build/ with the locally installed tools
# (worker-build would otherwise try to download wasm-bindgen and wasm-opt).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# The API's description is a static asset (served at /v1/openapi.json before
# the Worker runs), not 82 KB of the module's memory.
mkdir -p dashboard/v1
cp docs/openapi.json dashboard/v1/openapi.json
# Tests that start `wrangler dev` on an already built tree skip the rebuild.
if [ -n "${KEYBRAKE_SKIP_BUILD:-}" ] && [ -f build/index.js ]; then exit 0; fi
export WASM_BINDGEN_BIN=wasm-bindgen
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
[ -x "$ESBUILD_BIN" ] || unset ESBUILD_BIN
worker-build --release
node scripts/strip-wasm-names.mjs build/index_bg.wasm
