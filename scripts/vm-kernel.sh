#!/usr/bin/env bash
# The kernel and initramfs the VM tests boot (e2e/src/vm.rs): Debian's own
# kernel package (OVS kernel datapath, ip_gre, vxlan, 8021q, 9p), unpacked,
# not installed; a busybox initramfs that mounts this machine's root over 9p.
# Cached in tools/vm: a second run takes a moment. Needs root (apt-get).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$SRC/tools/vm}
# The recipe's version: a cache made by an older recipe is made again.
RECIPE=3
[ "$(cut -d' ' -f2 "$DIR/ready" 2>/dev/null)" = "$RECIPE" ] && exit 0
rm -rf "$DIR"; mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
cd "$DIR"
# The kernel linux-image-amd64 points at today (a plain flavour: -cloud has no 9p).
PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$PKG" ] || { echo "vm-kernel: no linux-image package found" >&2; exit 1; }
echo "vm-kernel: apt-get download $PKG"
# (apt warns that it downloads as root: expected here.)
apt-get download -qq "$PKG" 2>&1 | grep -v unsandboxed || true
ls ./"$PKG"_*.deb >/dev/null
dpkg -x ./"$PKG"_*.deb root
rm -f ./"$PKG"_*.deb
KV=$(ls root/lib/modules)
# modules.dep, so modprobe in the VM resolves dependencies (openvswitch pulls nf_conntrack).
depmod -b "$DIR/root" "$KV"
cp "root/boot/vmlinuz-$KV" vmlinuz
M=root/lib/modules/$KV
# A module and, first, everything it depends on.
deps() {
  local m f d x
  for m in "$@"; do
    f=$(find "$M" -name "$m.ko" | head -1)
    d=$(modinfo -F depends "$f")
    for x in ${d//,/ }; do deps "$x"; done
    echo "$f"
  done
}
I=initrd; mkdir -p $I/bin $I/mods $I/lib64 $I/lib/x86_64-linux-gnu
cp /usr/bin/busybox $I/bin/
for l in $(ldd /usr/bin/busybox | grep -o '/[^ ]*'); do cp "$l" "$I$l"; done
deps virtio_pci 9pnet_virtio 9p overlay virtio_net | awk '!seen[$0]++' > mods.list
while read -r f; do cp "$f" $I/mods/; done < mods.list
sed 's|.*/||; s|\.ko$||' mods.list | tr '\n' ' ' > $I/modorder
cp "$SRC/e2e/vm/init.sh" $I/init
chmod +x $I/init
(cd $I && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd.gz)
rm -rf $I mods.list
# sshd for the SSH transport's tests, unpacked as the kernel is (not installed:
# no sshd runs on this machine), with the library it needs beyond the host's.
for p in openssh-server libwrap0; do
  apt-get download -qq "$p" 2>&1 | grep -v unsandboxed || true
  dpkg -x ./"$p"_*.deb sshd
  rm -f ./"$p"_*.deb
done
# sudo, likewise, for the test of an SSH user other than root (`sudo -n`):
# the test copies it into a VM's root (setuid, with /etc/sudoers there).
apt-get download -qq sudo 2>&1 | grep -v unsandboxed || true
dpkg -x ./sudo_*.deb sudo
rm -f ./sudo_*.deb
echo "$KV $RECIPE" > ready
echo "vm-kernel: $KV in $DIR"
