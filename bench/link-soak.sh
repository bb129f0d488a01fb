#!/usr/bin/env bash
# link-soak.sh — the kill -9 fault test of tests/link.rs, 100 iterations
# instead of 20: the node is killed at random moments during uploads, then
# drains; every capture must be on the server exactly once, sha256-verified.
# The seed is printed (VIGIA_FAULT_SEED=... reproduces a schedule).
#
# usage: bench/link-soak.sh [ITERATIONS]      (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIA_KILL_ITERATIONS="${1:-100}"
start=$(date +%s)
cargo test --release --test link killing_the_node -- --nocapture
echo "[link-soak] $VIGIA_KILL_ITERATIONS kill -9 iterations passed in $(( $(date +%s) - start )) s"
