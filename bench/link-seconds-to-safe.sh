#!/usr/bin/env bash
# link-seconds-to-safe.sh — from an event's start to its first clip
# fragment complete on the server, and to the whole capture stored, over
# the SSH link on loopback (vigia server + one node on the synthetic
# camera in real time: two events a minute). Prints per-event figures and
# p50/max; asserts nothing. See bench/link_seconds_to_safe.py.
#
# usage: bench/link-seconds-to-safe.sh [EVENTS]    (default 6, ~3 minutes)
# needs: python3, cargo
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin vigia
target="${CARGO_TARGET_DIR:-target}"
exec python3 bench/link_seconds_to_safe.py "$target/release/vigia" "${1:-6}"
