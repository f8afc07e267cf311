#!/usr/bin/env bash
# Sandbox scale figures for docs/performance.md ("Sandbox scale"): apply and
# destroy of H hosts x 10 vms (benchmarks/apply/gen_big.py: a GRE chain, two
# VLANs) from nothing, for H in 10 20 50 100, with the release build: apply,
# then destroy at once. Per size: wall time of each (median of RUNS), the
# 1-minute load average just before, the memory per emulated host on one more
# apply (RSS of each host's ovsdb-server + ovs-vswitchd + agent, and the same
# as PSS, where shared pages count once),
# and where the time went (`apply -v` / `destroy -v`: each kind of step, how
# many, their median and slowest ms, and when the last one ended). Run as root:
#   bash benchmarks/scale/bench.sh                 (HOSTS="10 20 50 100" RUNS=3 VMS=10)
# NETLOOM=PATH measures another build (e.g. an older commit's) instead.
# RUN_TMPFS=1 runs it with netloom's /run directories (/run/netns,
# /run/netloom, /run/netloom-lock) on tmpfs, as /run is on a Debian host,
# in a mount namespace of its own (unshare -m), so nothing else sees them.
# The per-step tables and raw logs go to $OUT (default: a new temporary
# directory, printed at the end). It creates only topology bench-scale
# (namespaces nl-bench-scale.*), and destroys it on exit.
set -euo pipefail
if [ "${RUN_TMPFS:-}" = 1 ] && [ "${BENCH_UNSHARED:-}" != 1 ]; then
    exec env BENCH_UNSHARED=1 unshare --mount --propagation private bash "$0" "$@"
fi
if [ "${BENCH_UNSHARED:-}" = 1 ]; then
    # Where this machine kind has them on the root ext4 (docs/performance.md).
    for d in /run/netns:0755 /run/netloom:0700 /run/netloom-lock:0700; do
        mkdir -p "${d%:*}"
        mount -t tmpfs -o "mode=${d#*:}" netloom-bench "${d%:*}"
    done
fi
cd "$(dirname "$0")/../.."
if [ -n "${NETLOOM:-}" ]; then
    NL=$(realpath "$NETLOOM")
else
    T=${CARGO_TARGET_DIR:-target}
    cargo build -q --release -p netloom
    NL=$(realpath "$T/release/netloom")
fi
HOSTS=${HOSTS:-10 20 50 100}; RUNS=${RUNS:-3}; VMS=${VMS:-10}
NAME=bench-scale
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
cleanup() { "$NL" destroy --name "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# The kernel finishes deleting namespaces after destroy returns.
settle() { cleanup; sleep "${SETTLE:-5}"; }
trap 'exit 130' INT TERM

load() { cut -d' ' -f1 /proc/loadavg; }
# Each line of stdin prefixed with the seconds since the command started.
stamp() { perl -MTime::HiRes=time -ne 'BEGIN { $| = 1; $t0 = time } printf "%.3f %s", time - $t0, $_'; }
# Time a netloom command (seconds, 3 decimals); its -v output goes to $1.
timed() {
    local log=$1; shift
    local t0 t1
    t0=$EPOCHREALTIME
    { "$NL" "$@" -v 2>&1 || true; } | stamp > "$log"
    t1=$EPOCHREALTIME
    grep -q -E "applied|destroyed" "$log" || { echo "netloom $* failed:" >&2; tail -5 "$log" >&2; exit 1; }
    awk "BEGIN {printf \"%.3f\", $t1 - $t0}"
}
# Median of the numbers on stdin.
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
range() { sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }
# "RSS PSS" in KiB, summed over the topology's ovsdb-server, ovs-vswitchd and agents.
daemons_kib() {
    local rss=0 pss=0 p exe
    for p in /proc/[0-9]*; do
        exe=$({ tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null) || continue
        case "$exe" in
        *"/run/netloom/$NAME/"*) ;;
        *) continue ;;
        esac
        case "$exe" in
        ovsdb-server*|ovs-vswitchd*|*" agent "*) ;;
        *) continue ;;
        esac
        rss=$((rss + $(awk '/^VmRSS/ {print $2}' "$p/status" 2>/dev/null || echo 0)))
        pss=$((pss + $(awk '/^Pss:/ {print $2}' "$p/smaps_rollup" 2>/dev/null || echo 0)))
    done
    echo "$rss $pss"
}
# Per kind of step: count, median ms, slowest ms, when the last ended (s).
steps_table() { # log, title
    echo "#### $2"
    echo
    echo "| step | count | median ms | slowest ms | last ended at (s) |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    perl -ne '
        next unless /^([\d.]+) ([^:]+): ([-+~]) (\S+) .*\(([\d.]+) ms\)/;
        my $k = "$3 " . ($2 eq "sandbox" ? "sandbox " : "host ") . $4;
        push @{$ms{$k}}, $5; $end{$k} = $1 if $1 > ($end{$k} // 0);
        END {
            for my $k (sort { $end{$a} <=> $end{$b} } keys %ms) {
                my @v = sort { $a <=> $b } @{$ms{$k}};
                printf "| %s | %d | %.1f | %.1f | %.2f |\n", $k, scalar @v, $v[int(@v / 2)], $v[-1], $end{$k};
            }
        }' "$1"
    echo
}

echo "| hosts x vms | apply (s) | destroy (s) | load before apply / destroy | RSS per host (MiB) | PSS per host (MiB) | MemAvailable drop per host (MiB) |"
echo "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
for H in $HOSTS; do
    lab="$OUT/$NAME-$H.yaml"
    python3 benchmarks/apply/gen_big.py "$H" "$VMS" "$NAME" > "$lab"
    : > "$OUT/apply-$H"; : > "$OUT/destroy-$H"; : > "$OUT/load-$H"; : > "$OUT/mem-$H"
    for i in $(seq "$RUNS"); do
        settle
        la=$(load)
        timed "$OUT/apply-$H-$i.log" apply "$lab" >> "$OUT/apply-$H"; echo >> "$OUT/apply-$H"
        # At once: what a sandbox does in its first minute is part of the figure.
        ld=$(load)
        timed "$OUT/destroy-$H-$i.log" destroy "$lab" >> "$OUT/destroy-$H"; echo >> "$OUT/destroy-$H"
        echo "$la / $ld" >> "$OUT/load-$H"
    done
    # Memory on one more apply (reading /proc takes seconds: not before a timed destroy).
    settle
    m0=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    "$NL" apply "$lab" > /dev/null
    m1=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    echo "$(daemons_kib) $((m0 - m1))" >> "$OUT/mem-$H"
    cleanup
    a=$(median < "$OUT/apply-$H"); d=$(median < "$OUT/destroy-$H")
    ar=$(range < "$OUT/apply-$H"); dr=$(range < "$OUT/destroy-$H")
    loads=$(paste -sd';' "$OUT/load-$H" | sed 's/;/; /g')
    mem=$(awk -v h="$H" '{r+=$1; p+=$2; m+=$3} END {printf "%.1f | %.1f | %.1f", r/NR/h/1024, p/NR/h/1024, m/NR/h/1024}' "$OUT/mem-$H")
    echo "| $H x $VMS | $a ($ar) | $d ($dr) | $loads | $mem |"
    {
        steps_table "$OUT/apply-$H-$RUNS.log" "apply, $H x $VMS (run $RUNS)"
        steps_table "$OUT/destroy-$H-$RUNS.log" "destroy, $H x $VMS (run $RUNS)"
    } >> "$OUT/steps.md"
done
echo
echo "Where the time goes: $OUT/steps.md (raw -v logs with seconds since start: $OUT/*.log)"
