#!/usr/bin/env bash
# Wall time and peak memory of `netloom reach` on the generated lab of the
# simulator benchmarks (shared/tests/support/mod.rs `generated`), 100 hosts x
# 100 vms by default: 10,000 vms, about 100 million pairs and 17 GB of JSON
# (written to a pipe, counted, not kept). Figures: docs/performance.md,
# "Simulator". Usage: bash benchmarks/reach/bench.sh [HOSTS VMS]   (RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
HOSTS=${1:-100}
VMS=${2:-100}
cargo build --release -q -p netloom
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
lab=$dir/lab.yaml
cargo run --release -q -p netloom-core --example generated -- "$HOSTS" "$VMS" >"$lab"
echo "lab: $HOSTS hosts x $VMS vms; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# A memory cap, so that a regression fails here instead of starving the machine.
measure() { # label, netloom arguments...
    local label=$1
    shift
    for _ in $(seq "$RUNS"); do
        ( ulimit -v 8000000
          /usr/bin/time -f '%e %M' -o "$dir/t" ./target/release/netloom "$@" "$lab" | wc -c >"$dir/bytes" )
        echo "$(cat "$dir/t") $(cat "$dir/bytes")"
    done | sort -n | awk -v l="$label" '{ s[NR] = $1; if ($2 > m) m = $2; b = $3 } END {
        printf "%s: wall s: min %s median %s max %s; peak RSS: max %d MB; output %.0f bytes\n",
            l, s[1], s[int((NR + 1) / 2)], s[NR], m / 1024, b }'
}
measure "netloom reach (text)" reach
measure "netloom reach --json" reach --json
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
