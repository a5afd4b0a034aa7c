#!/usr/bin/env bash
# Builds the Workers client (clients/workers/dist: ESM bundle and type
# declarations) and bundles the examples for the tests (build/examples),
# type-checking both against @cloudflare/workers-types.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
"$bin/tsc" -p clients/workers
"$bin/esbuild" clients/workers/src/index.ts --bundle --format=esm --platform=neutral \
  --target=es2022 --outfile=clients/workers/dist/index.js --log-level=warning
"$bin/tsc" -p examples
"$bin/esbuild" examples/worker.ts --bundle --format=esm --platform=neutral --target=es2022 \
  --external:'cloudflare:*' --alias:@keybrake/workers=./clients/workers/src/index.ts \
  --main-fields=module,main --conditions=workerd,worker,browser \
  --outfile=build/examples/worker.js --log-level=warning
