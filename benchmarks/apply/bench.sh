#!/usr/bin/env bash
# Apply figures for docs/performance.md ("Apply"): netloom apply vs the
# `netloom export --shell` script of the same lab, for the seed GRE lab and
# the DHCP lab; then apply/destroy of a 20-host x 10-vm sandbox and the
# memory per emulated host. Run as root on an otherwise idle machine:
#   bash benchmarks/apply/bench.sh            (RUNS=5 by default)
# It creates only namespaces named nl-bench-*, and removes them on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p netloom
NL=$T/release/netloom
RUNS=${RUNS:-5}
work=$(mktemp -d)
cleanup() {
    for n in bench-seed bench-dhcp bench-big; do "$NL" destroy --name "$n" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN {print $1}"; }
# median of the numbers on stdin, in ms with one decimal
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m*1000}'; }
lab() { sed -E "s/^name: .*/name: $2/" "examples/$1" > "$work/$2.yaml"; }
# Namespace teardown finishes in the kernel after `ip netns del` returns and
# holds the netlink lock meanwhile: let it end before the next timed build.
settle() { sleep "${SETTLE:-1.5}"; }

compare() { # example, topology name
    local ex=$1 name=$2 f="$work/$2.yaml"
    lab "$ex" "$name"
    "$NL" export --shell "$f" > "$work/$name.sh"
    : > "$work/$name.apply"; : > "$work/$name.script"
    for i in $(seq "$RUNS"); do
        t0=$(now); "$NL" apply "$f" >/dev/null; t1=$(now)
        calc "$t1 - $t0" >> "$work/$name.apply"
        if [ "$i" = 1 ]; then "$NL" verify "$f" >/dev/null || { echo "verify disagrees after apply of $name" >&2; exit 1; }; fi
        "$NL" destroy "$f" >/dev/null; settle
        t0=$(now); sh "$work/$name.sh" >/dev/null 2>&1; t1=$(now)
        calc "$t1 - $t0" >> "$work/$name.script"
        if [ "$i" = 1 ]; then "$NL" verify "$f" >/dev/null || { echo "verify disagrees after the script of $name" >&2; exit 1; }; fi
        "$NL" destroy --name "$name" >/dev/null; settle
    done
    a=$(median < "$work/$name.apply"); s=$(median < "$work/$name.script")
    printf '| %s | %s ms | %s ms | %.1fx |\n' "$ex" "$a" "$s" "$(calc "$s / $a")"
}

echo "| lab | netloom apply (median of $RUNS) | export --shell script | speed-up |"
echo "| --- | --- | --- | --- |"
compare seedlab-gre.yaml bench-seed
compare dhcp.yaml bench-dhcp

[ -n "${SKIP_BIG:-}" ] && exit 0
python3 benchmarks/apply/gen_big.py 20 10 bench-big > "$work/big.yaml"
avail() { awk '/MemAvailable/ {print $2}' /proc/meminfo; }
m0=$(avail)
t0=$(now); "$NL" apply "$work/big.yaml" >/dev/null; t1=$(now)
m1=$(avail)
rss=$(for p in /proc/[0-9]*; do
        if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q "/run/netloom/bench-big/"; then
            awk '/VmRSS/ {print $2}' "$p/status" 2>/dev/null
        fi
      done | awk '{s+=$1} END {print s}')
again=$( { /usr/bin/time -f %e "$NL" apply "$work/big.yaml" >/dev/null; } 2>&1 )
t2=$(now); "$NL" destroy "$work/big.yaml" >/dev/null; t3=$(now)
echo
echo "| 20 hosts x 10 vms (GRE chain, 2 VLANs) | value |"
echo "| --- | --- |"
printf '| apply from nothing | %.2f s |\n' "$(calc "$t1 - $t0")"
printf '| apply again (no-op: observe + empty plan) | %s s |\n' "$again"
printf '| destroy | %.2f s |\n' "$(calc "$t3 - $t2")"
printf '| daemons RSS per emulated host (ovsdb-server + ovs-vswitchd + agent) | %.1f MiB |\n' "$(calc "$rss / 20 / 1024")"
printf '| MemAvailable drop per emulated host (daemons + namespaces + veths, 10 vms) | %.1f MiB |\n' "$(calc "($m0 - $m1) / 20 / 1024")"
