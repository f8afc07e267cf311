#!/usr/bin/env bash
# Verify figures for docs/performance.md ("Verify at scale"): apply a sandbox
# of H hosts x V vms (benchmarks/apply/gen_big.py), time `netloom verify`
# over all its pairs, count the disagreements with `reach` (each one is a
# false negative or positive of the probes), then destroy. With LOAD=N, N
# busy loops run meanwhile (a busy machine). Run as root:
#   bash benchmarks/verify/bench.sh [HOSTS] [VMS]     (default 20 10; RUNS=3)
# It creates only namespaces named nl-bench-verify.*, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p netloom
NL=$T/release/netloom
H=${1:-20}; V=${2:-10}; RUNS=${RUNS:-3}; LOAD=${LOAD:-0}
work=$(mktemp -d)
busy=()
cleanup() {
    for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done
    "$NL" destroy --name bench-verify >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
# CPU seconds used so far by this lab's ovs-vswitchd processes (utime + stime).
switch_cpu() {
    local t=0 p
    for p in $(pgrep -f "ovs-vswitchd.*bench-verify" || true); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    awk "BEGIN {print $t / $(getconf CLK_TCK)}"
}
python3 benchmarks/apply/gen_big.py "$H" "$V" bench-verify > "$work/big.yaml"
t0=$(now); "$NL" apply "$work/big.yaml" >/dev/null; t1=$(now)
printf 'apply %dx%d: %.1f s\n' "$H" "$V" "$(awk "BEGIN {print $t1 - $t0}")"
for _ in $(seq "$LOAD"); do (while :; do :; done) & busy+=($!); done
echo "| lab | pairs | expected to reach | verify (s) | disagreements | load | ovs-vswitchd CPU (s) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for _ in $(seq "$RUNS"); do
    c0=$(switch_cpu); t0=$(now)
    "$NL" verify --json "$work/big.yaml" > "$work/v.json" || true
    t1=$(now); c1=$(switch_cpu)
    python3 - "$work/v.json" "$H" "$V" "$(awk "BEGIN {print $t1 - $t0}")" "$LOAD" "$(awk "BEGIN {print $c1 - $c0}")" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
res = v["report"]["results"]
ok = sum(1 for r in res if r["ok"])
print(f"| {sys.argv[2]}x{sys.argv[3]} | {len(res)} | {ok} reached | {float(sys.argv[4]):.1f} | {len(v.get('disagreements', []))} | {sys.argv[5]} busy loops | {float(sys.argv[6]):.1f} |")
PY
done
t0=$(now); "$NL" destroy "$work/big.yaml" >/dev/null; t1=$(now)
printf 'destroy %dx%d: %.1f s\n' "$H" "$V" "$(awk "BEGIN {print $t1 - $t0}")"
