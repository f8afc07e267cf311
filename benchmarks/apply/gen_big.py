#!/usr/bin/env python3
"""Write a sandbox topology of H hosts x V vms (GRE chain, two VLANs) to stdout."""
import sys

hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 20
vms = int(sys.argv[2]) if len(sys.argv) > 2 else 10
name = sys.argv[3] if len(sys.argv) > 3 else "bench-big"
out = [f"version: 1", f"name: {name}", "hosts:"]
for h in range(hosts):
    out += [f"  - name: h{h}", "    bridges:", "      - name: br-in", "    vms:"]
    for v in range(vms):
        vlan = 10 + (v % 2) * 10
        out += [f"      - name: vm{h}-{v}", "        nics:",
                f"          - {{bridge: br-in, vlan: {vlan}, ip: 10.{vlan}.{h}.{v + 1}/16}}"]
out.append("tunnels:")
for h in range(hosts - 1):
    out.append(f"  - {{type: gre, between: [h{h}/br-in, h{h + 1}/br-in], key: {h + 1}}}")
print("\n".join(out))
