#!/bin/sh
# The init of a test VM (e2e/src/vm.rs): this machine's binaries seen over 9p,
# Debian's kernel with its modules, Open vSwitch with the kernel datapath, and
# `netloom agent` over TLS on eth0. Then a shell on the console, for the test
# to look inside. Parameters come on the kernel command line.
for a in $(cat /proc/cmdline); do
  case $a in
    me=*) ME=${a#me=};; ip=*) IP=${a#ip=};; port=*) PORT=${a#port=};;
    dir=*) DIR=${a#dir=};; mods=*) MODS=${a#mods=};; netloom=*) NETLOOM=${a#netloom=};;
    name=*) NAME=${a#name=};;
  esac
done
case " $(cat /proc/cmdline) " in *" debug "*) set -x;; esac
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t tmpfs tmpfs /run
# What systemd and udev give every Debian machine (nft -f - opens /dev/stdin).
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
mkdir -p /lib/modules
mount --bind "$MODS" /lib/modules
hostname "$NAME"
for m in openvswitch ip_gre vxlan 8021q; do modprobe $m || echo "netloom-vm: modprobe $m failed"; done
ip link set lo up
ip link set eth0 up
ip addr add "$ME" dev eth0
# The system's Open vSwitch, as a distribution runs it, with a database of its own
# (this machine's /etc/openvswitch is not the VM's).
mkdir -p /run/openvswitch /var/log/openvswitch
rm -f /etc/openvswitch/conf.db
ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server /etc/openvswitch/conf.db --remote=punix:/run/openvswitch/db.sock \
  --pidfile=/run/openvswitch/ovsdb-server.pid --detach --log-file=/var/log/openvswitch/ovsdb-server.log
ovs-vsctl --no-wait init
# Open vSwitch 3.1.0 (Debian 12's) counts the CPUs only once the system has
# been up 10 s: a kernel datapath made before that gets no upcall handler and
# loses every packet that has no flow yet, for good (`ovs-dpctl show`: all
# lookups "lost"; fixed in 3.1.1 by OVS commit fff04b838). A host's firmware
# and boot take longer than that; this VM may be up in less.
while [ "$(cut -d. -f1 /proc/uptime)" -lt 11 ]; do sleep 0.2; done
ovs-vswitchd --pidfile=/run/openvswitch/ovs-vswitchd.pid --detach --log-file=/var/log/openvswitch/ovs-vswitchd.log
"$NETLOOM" agent --listen "tcp:$IP:$PORT" --token-file "$DIR/token" \
  --tls-cert "$DIR/cert.pem" --tls-key "$DIR/key.pem" --pidfile /run/netloom-agent.pid \
  >/var/log/netloom-agent.log 2>&1 &
AGENT=$!
# sshd, for agents reached over SSH (scripts/vm-kernel.sh unpacks it beside the
# kernel; the test made its host key and authorized_keys in $DIR).
SSHD=${MODS%/root/lib/modules}/sshd
grep -q '^sshd:' /etc/passwd || echo 'sshd:x:101:65534::/run/sshd:/usr/sbin/nologin' >> /etc/passwd
mkdir -p /run/sshd
# Root's home of its own, empty as on a fresh host: bash run by sshd reads
# ~/.bashrc, and this machine's (pyenv init) costs seconds a session under TCG.
mount -t tmpfs -o mode=0700 tmpfs /root
LD_LIBRARY_PATH=$SSHD/usr/lib/x86_64-linux-gnu $SSHD/usr/sbin/sshd -f /dev/null \
  -h "$DIR/ssh_host_key" -o ListenAddress="$IP" -o PermitRootLogin=prohibit-password \
  -o AuthorizedKeysFile="$DIR/authorized_keys" -o StrictModes=no -o UsePAM=no \
  -o PidFile=/run/sshd.pid -E /var/log/sshd.log || echo "netloom-vm: sshd failed"
while [ ! -e /run/netloom-agent.pid ] && kill -0 $AGENT 2>/dev/null; do sleep 0.1; done
stty -echo 2>/dev/null
if [ -e /run/netloom-agent.pid ]; then
  echo "netloom-vm-ready $NAME"
else
  echo "netloom-vm-failed $NAME: the agent exited"; cat /var/log/netloom-agent.log
fi
# The test's commands, one per line, each in a shell of its own (a mistake
# in one must not end this init).
while IFS= read -r line; do
  sh -c "$line"
done
echo o > /proc/sysrq-trigger
