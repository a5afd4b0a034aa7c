#!/usr/bin/env bash
# Sets up and runs Keybrake locally: `wrangler dev` with local D1 and Durable
# Objects (state kept in .wrangler/state), migrations applied.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false

scripts/setup.sh
if [ ! -f .dev.vars ]; then
  token="kb_admin_$(node -e 'process.stdout.write(require("crypto").randomBytes(24).toString("hex"))')"
  sed "s/^KEYBRAKE_ADMIN_TOKEN=.*/KEYBRAKE_ADMIN_TOKEN=$token/" .dev.vars.example > .dev.vars
  echo "Created .dev.vars with a new admin token: $token"
fi
node_modules/.bin/wrangler d1 migrations apply DB --local </dev/null
# STRIPE_API_BASE=http://127.0.0.1:12111 points Keybrake at a local fake.
extra=()
[ -n "${STRIPE_API_BASE:-}" ] && extra+=(--var "STRIPE_API_BASE:$STRIPE_API_BASE")
exec node_modules/.bin/wrangler dev --local --ip 127.0.0.1 --port "${PORT:-8787}" "${extra[@]}" "$@"
