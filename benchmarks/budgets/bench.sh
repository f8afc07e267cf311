#!/usr/bin/env bash
# Time and peak memory of `netloom validate` refusing the alias bomb of
# shared/tests/support/mod.rs (alias_bomb): 160 KB of nested YAML aliases
# that would expand to about 1.3 million vms. Figures: docs/performance.md,
# "Input budgets". Usage: bash benchmarks/budgets/bench.sh   (RUNS=9 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-9}
cargo build --release -q -p netloom
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bomb=$dir/bomb.yaml
# The same text as alias_bomb(): a host whose vms are aliases of one vm, then 90 aliases of the host.
header='version: 1
name: bomb
hosts:
  - &h
    name: node1
    bridges: [{name: br0}]
    vms:
      - &v {name: vm1, nics: [{bridge: br0, ip: 10.0.0.1/24}]}
'
vms=$(( (160000 - ${#header} - 90 * 7 + 10) / 11 ))
{
    printf '%s' "$header"
    yes '      - *v' | head -n "$vms" || true
    yes '  - *h' | head -n 90 || true
} >"$bomb"
echo "alias bomb: $(wc -c <"$bomb") bytes"
for _ in $(seq "$RUNS"); do
    # A memory cap, so that a regression fails here instead of swapping.
    ( ulimit -v 4000000
      /usr/bin/time -f '%e %M' -o "$dir/t" ./target/release/netloom validate "$bomb" >"$dir/out" || true )
    grep -q 'YAML nodes' "$dir/out" || { cat "$dir/out" | head -3; echo "not refused by the node limit"; exit 1; }
    # The last line: time's own (the one before says the exit status was 1).
    tail -n 1 "$dir/t"
done | sort -n | awk '{ s[NR] = $1; if ($2 > m) m = $2 } END {
    printf "wall s: min %s median %s max %s; peak RSS: max %d KB\n", s[1], s[int((NR + 1) / 2)], s[NR], m }'
