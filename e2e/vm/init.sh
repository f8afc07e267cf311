#!/bin/busybox sh
# PID 1 of a test VM (scripts/vm-kernel.sh packs it): the host's root read-only
# over 9p with a tmpfs on top, then the script named by vmscript= as the VM's init.
B=/bin/busybox
$B mkdir -p /proc /sys /dev /lower /rw /newroot
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /modorder); do $B insmod /mods/$m.ko; done
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /lower \
  || { echo "netloom-vm: 9p mount failed"; exec $B sh; }
$B mount -t tmpfs tmpfs /rw
$B mkdir -p /rw/upper /rw/work
$B mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
  || { echo "netloom-vm: overlay failed"; exec $B sh; }
for d in proc sys dev; do $B mount -o move /$d /newroot/$d; done
S=
for a in $($B cat /newroot/proc/cmdline); do case $a in vmscript=*) S=${a#vmscript=};; esac; done
exec $B switch_root /newroot /bin/sh "$S"
