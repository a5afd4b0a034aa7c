#!/usr/bin/env bash
# A virtualenv (.venv) with the Python clients the Worker tests use
# (tests/python/requirements.txt); reinstalled only when that file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements
if [ -f "$stamp" ] && cmp -s tests/python/requirements.txt "$stamp"; then exit 0; fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
cp tests/python/requirements.txt "$stamp"
