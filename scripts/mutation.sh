#!/usr/bin/env bash
# Mutation testing of hawk's core modules, one module at a time, each against its own tests
# (modules and tests: [tool.hawk.mutation.*] in pyproject.toml; mutmut's settings: [tool.mutmut]).
#   scripts/mutation.sh                 every module (slow: see README, Development)
#   scripts/mutation.sh losses video    some modules
#   scripts/mutation.sh --list          the modules, their files and their tests
# Needs the dev install (pip install -e '.[dev]'), which brings mutmut. Runs niced; work
# folders are .mutation/<module>/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
exec nice -n "${MUTATION_NICE:-15}" python3 scripts/mutation.py "$@"
