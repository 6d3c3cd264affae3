#!/usr/bin/env bash
# Quick start, step 1: install what is missing, build everything, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j2
make demo
