#!/usr/bin/env bash
# Installs everything Keybrake needs on a fresh machine, skipping what is
# already there: the wasm target, worker-build and wasm-bindgen-cli (pinned to
# versions known to work together with worker 0.8.7 and Node 20), and the npm
# packages.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WORKER_BUILD_VERSION=0.8.7
# Must equal the wasm-bindgen crate pinned in Cargo.toml.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

installed() { # name version
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q " $2\b"
}
if ! installed wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  cargo install --locked wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if ! installed worker-build "$WORKER_BUILD_VERSION"; then
  cargo install --locked worker-build --version "$WORKER_BUILD_VERSION"
fi

# npm ci when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.keybrake-lock; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.keybrake-lock
fi
