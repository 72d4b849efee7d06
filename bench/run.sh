#!/usr/bin/env bash
# The benchmark: builds release binaries, then measures on loopback, in one
# run, every guarantee's cost against a trivial route of the same binary.
# Writes bench/RESULTS.md. Knobs: BENCH_DURATION (s, default 10),
# BENCH_CONNECTIONS (default 50).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
cargo build --release --locked
exec python3 bench/run.py "$@"
