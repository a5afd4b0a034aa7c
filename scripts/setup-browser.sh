#!/usr/bin/env bash
# The dashboard's tests drive Debian's Chromium with playwright-core (an npm
# devDependency); install the browser when it is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
as_root=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "Chromium is missing and neither root nor sudo is available: apt-get install chromium" >&2; exit 1; }
  as_root=(sudo)
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium
