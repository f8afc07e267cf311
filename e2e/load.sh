#!/usr/bin/env bash
# "Server under load" of docs/performance.md: 50 clients for 30 s against a
# release `netloom serve` that loadgen starts on 127.0.0.1 with a fresh data
# directory and stops at the end. Extra arguments go to loadgen
# (--clients N, --seconds S). Exits non-zero on any failed request.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p netloom --bin netloom -p netloom-e2e --bin loadgen
bin="${CARGO_TARGET_DIR:-target}/release"
exec "$bin/loadgen" --netloom "$bin/netloom" "$@"
