#!/usr/bin/env python3
"""OVN engine at scale (docs/performance.md, "OVN engine at scale").

For each size H (default 5 10 20 50) and each engine (ovs, then ovn), the
same design, `benchmarks/apply/gen_big.py H 20`: H emulated hosts, 20 vms
each (one nic, so 20 ports a host), in VLANs 10 and 20, the hosts chained by
tunnels (under ovn: one segment, so two logical switches spanning every
chassis, joined by Geneve). From nothing, with the release build:

- the plan (`plan --json`): its steps, and under ovn the northbound
  transaction: operations and bytes of its compact JSON;
- `apply -v`: wall time, the command's own "applied N steps in X s", the
  northbound step's own time;
- right after apply: RSS (and PSS: shared pages counted once) of each
  host's ovsdb-server + ovs-vswitchd (+ ovn-controller) + agent, per host;
  the central's NB and SB ovsdb-servers and ovn-northd; the CPU seconds
  each kind of daemon used so far (they started with this apply); the drop
  of MemAvailable per host;
- `verify` (first after apply) for H <= VERIFY_MAX (default 5): time and
  disagreements;
- `destroy -v`: wall time and the command's own figure.

If the ovn apply fails waiting for the chassis, the script records it, goes
on polling the central until every chassis has caught up (up to CATCHUP
seconds, default 600) and reports how long that took, then measures as
above. Run as root:
    python3 benchmarks/ovn/scale.py                 (SIZES="5 10 20 50" VMS=20)
NETLOOM=PATH measures another build. Results: a table on stdout; logs,
plans and results.json in $OUT (default: a new temporary directory). It
creates only topologies bench-ovs and bench-ovn, destroyed on exit.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIZES = [int(s) for s in os.environ.get("SIZES", "5 10 20 50").split()]
ENGINES = os.environ.get("ENGINES", "ovs ovn").split()
VMS = int(os.environ.get("VMS", "20"))
VERIFY_MAX = int(os.environ.get("VERIFY_MAX", "5"))
SETTLE = float(os.environ.get("SETTLE", "5"))
CATCHUP = float(os.environ.get("CATCHUP", "600"))
OUT = os.environ.get("OUT") or tempfile.mkdtemp(prefix="ovnscale.")
TICK = os.sysconf("SC_CLK_TCK")


def build():
    if os.environ.get("NETLOOM"):
        return os.path.realpath(os.environ["NETLOOM"])
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "netloom"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "netloom")


NL = None
def name_of(engine):
    return f"bench-{engine}"


def destroy_quietly(name):
    subprocess.run([NL, "destroy", "--name", name], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def timed(log, *args):
    """Run netloom with -v, each output line stamped with the seconds since
    it started; return (exit status, wall seconds, output)."""
    t0 = time.monotonic()
    lines = []
    with subprocess.Popen([NL, *args, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as p:
        for line in p.stdout:
            lines.append(f"{time.monotonic() - t0:.3f} {line}")
    wall = time.monotonic() - t0
    with open(log, "w") as f:
        f.writelines(lines)
    return p.returncode, wall, "".join(lines)


def own_secs(out, verb):
    m = re.search(rf"{verb} \(?(\d+) steps in ([\d.]+) s", out)
    return (int(m.group(1)), float(m.group(2))) if m else (None, None)


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def kind_of(cmd):
    exe = os.path.basename(cmd[0]) if cmd else ""
    if exe == "netloom" and len(cmd) > 1 and cmd[1] == "agent":
        return "agent"
    if exe in ("ovsdb-server", "ovs-vswitchd", "ovn-controller", "ovn-northd"):
        return exe
    return None


def daemons(name):
    """{(place, kind): [rss KiB, pss KiB, cpu s]} for the topology's daemons,
    place a host's name or `_ovn` (for the central's NB and SB servers,
    `nb`/`sb` is added to the kind)."""
    where = re.compile(rf"/run/netloom/{re.escape(name)}/([^/]+)/(\w+)")
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace").split("\0")
            kind = kind_of(cmd)
            m = where.search(" ".join(cmd))
            if not kind or not m:
                continue
            place = m.group(1)
            if place == "_ovn" and kind == "ovsdb-server":
                kind += " " + m.group(2).split(".")[0]
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss = next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, StopIteration, IndexError, ValueError):
            continue
        acc = found.setdefault((place, kind), [0, 0, 0.0])
        acc[0] += rss
        acc[1] += pss
        acc[2] += cpu
    return found


def summarize(found, hosts):
    """Per host (MiB, averaged over the hosts) and central, by kind."""
    per_host, central = {}, {}
    for (place, kind), (rss, pss, cpu) in found.items():
        side = central if place == "_ovn" else per_host
        acc = side.setdefault(kind, [0, 0, 0.0])
        acc[0] += rss
        acc[1] += pss
        acc[2] += cpu
    host_rss = sum(v[0] for v in per_host.values()) / hosts / 1024
    host_pss = sum(v[1] for v in per_host.values()) / hosts / 1024
    return {
        "host_rss_mib": round(host_rss, 1),
        "host_pss_mib": round(host_pss, 1),
        "per_host_kind_rss_mib": {k: round(v[0] / hosts / 1024, 1) for k, v in per_host.items()},
        "central_rss_mib": {k: round(v[0] / 1024, 1) for k, v in central.items()},
        "cpu_s": {k: round(v[2], 2) for k, v in {**per_host, **central}.items()},
    }


def ovn_cfg(name):
    """(nb_cfg, hv_cfg, chassis registered, chassis at nb_cfg) of the central."""
    d = f"/run/netloom/{name}/_ovn"
    nb = subprocess.run(["ovn-nbctl", f"--db=unix:{d}/nb.sock", "--bare", "--columns=nb_cfg,hv_cfg",
                         "list", "NB_Global"], capture_output=True, text=True).stdout.split()
    priv = subprocess.run(["ovn-sbctl", f"--db=unix:{d}/sb.sock", "--bare", "--columns=nb_cfg",
                           "list", "Chassis_Private"], capture_output=True, text=True).stdout.split()
    if len(nb) < 2:
        return None
    want = int(nb[0])
    return want, int(nb[1]), len(priv), sum(1 for c in priv if int(c) >= want)


def catch_up(name, hosts, res):
    """After an apply that gave up waiting for the chassis: how long until
    they all caught up, polled from the central."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < CATCHUP:
        last = ovn_cfg(name)
        if last and last[3] >= hosts and last[1] >= last[0]:
            res["caught_up_after_s"] = round(res["apply_wall_s"] + time.monotonic() - t0, 1)
            return
        time.sleep(1)
    res["not_caught_up"] = last


def northbound(plan):
    nb = plan.get("northbound") or {}
    ops = nb.get("ops") or []
    return len(ops), len(json.dumps(ops, separators=(",", ":"))) if ops else 0


def run(engine, hosts):
    name = name_of(engine)
    tag = f"{engine}-{hosts}"
    lab = os.path.join(OUT, f"{tag}.yaml")
    with open(lab, "w") as f:
        subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks/apply/gen_big.py"),
                        str(hosts), str(VMS), name], stdout=f, check=True)
    destroy_quietly(name)
    time.sleep(SETTLE)
    res = {"engine": engine, "hosts": hosts, "ports": hosts * VMS}
    plan = subprocess.run([NL, "--engine", engine, "plan", "--json", lab], capture_output=True,
                          text=True, check=True).stdout
    with open(os.path.join(OUT, f"{tag}.plan.json"), "w") as f:
        f.write(plan)
    plan = json.loads(plan)
    res["plan_steps"] = sum(len(t["steps"]) for t in plan["targets"])
    res["nb_ops"], res["nb_bytes"] = northbound(plan)
    res["load_before"] = os.getloadavg()[0]
    m0 = mem_available()
    rc, wall, out = timed(os.path.join(OUT, f"{tag}.apply.log"), "--engine", engine, "apply", lab)
    res["apply_wall_s"] = round(wall, 2)
    res["apply_steps"], res["apply_own_s"] = own_secs(out, "applied")
    m = re.search(r"northbound transaction \(\d+ operations\).*\(([\d.]+) ms\)", out)
    res["nb_step_s"] = round(float(m.group(1)) / 1000, 2) if m else None
    if rc != 0:
        res["apply_error"] = out.strip().splitlines()[-3:]
        if engine == "ovn":
            catch_up(name, hosts, res)
    res["mem_available_drop_per_host_mib"] = round((m0 - mem_available()) / hosts / 1024, 1)
    res.update(summarize(daemons(name), hosts))
    if hosts <= VERIFY_MAX and rc == 0:
        t0 = time.monotonic()
        v = subprocess.run([NL, "--engine", engine, "verify", "--json", lab], capture_output=True,
                           text=True)
        res["verify_s"] = round(time.monotonic() - t0, 2)
        try:
            res["verify_disagreements"] = len(json.loads(v.stdout)["disagreements"])
        except (ValueError, KeyError):
            res["verify_error"] = v.stderr.strip().splitlines()[-3:]
    res["load_before_destroy"] = os.getloadavg()[0]
    rc, wall, out = timed(os.path.join(OUT, f"{tag}.destroy.log"), "--engine", engine, "destroy", lab)
    res["destroy_wall_s"] = round(wall, 2)
    res["destroy_steps"], res["destroy_own_s"] = own_secs(out, "destroyed")
    if rc != 0:
        res["destroy_error"] = out.strip().splitlines()[-3:]
    return res


def fmt(v, unit=""):
    return "–" if v is None else f"{v}{unit}"


def row(r):
    cpu = r["cpu_s"]
    central = r["central_rss_mib"]
    apply = f"{fmt(r['apply_wall_s'], ' s')} ({fmt(r['apply_own_s'], ' s')})"
    if "apply_error" in r:
        apply += f" **failed**, caught up at {fmt(r.get('caught_up_after_s'), ' s')}"
    return "| " + " | ".join([
        f"{r['hosts']} x {VMS}", r["engine"], apply, fmt(r["nb_step_s"], " s"),
        f"{r['nb_ops']} / {r['nb_bytes']:,} B" if r["nb_ops"] else "–",
        fmt(r["host_rss_mib"], " MiB"), fmt(r["host_pss_mib"], " MiB"),
        ", ".join(f"{k} {v}" for k, v in sorted(r["per_host_kind_rss_mib"].items())),
        ", ".join(f"{k} {v}" for k, v in sorted(central.items())) or "–",
        ", ".join(f"{k} {v}" for k, v in sorted(cpu.items())),
        fmt(r.get("verify_s"), " s") + (f" ({r['verify_disagreements']} disagree)"
                                       if "verify_disagreements" in r else ""),
        f"{fmt(r['destroy_wall_s'], ' s')} ({fmt(r['destroy_own_s'], ' s')})",
        f"{r['load_before']:.1f} / {r['load_before_destroy']:.1f}",
    ]) + " |"


def main():
    global NL
    NL = build()
    os.makedirs(OUT, exist_ok=True)
    # A TERM or INT still destroys what was made (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    results = []
    print("| chassis x ports | engine | apply wall (own) | northbound step | NB transaction ops / bytes "
          "| RSS per host | PSS per host | RSS per host by daemon (MiB) | central RSS (MiB) "
          "| CPU s by daemon kind, all hosts | first verify | destroy wall (own) | load before apply / destroy |")
    print("| --- " * 13 + "|", flush=True)
    try:
        for hosts in SIZES:
            for engine in ENGINES:
                r = run(engine, hosts)
                results.append(r)
                with open(os.path.join(OUT, "results.json"), "w") as f:
                    json.dump(results, f, indent=1)
                print(row(r), flush=True)
    finally:
        for engine in ENGINES:
            destroy_quietly(name_of(engine))
    print(f"\nlogs, plans and results.json: {OUT}")


if __name__ == "__main__":
    main()
