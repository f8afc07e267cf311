//! Real hosts as users have them: Debian's kernel booted under qemu (TCG),
//! with the Open vSwitch kernel datapath, kernel GRE/VXLAN and 802.1Q, and
//! `netloom agent` over TLS: what `datapath: system` meets in the field.
//!
//! `scripts/vm-kernel.sh` (run by `scripts/install-deps.sh`) caches the kernel
//! package, unpacked, and a busybox initramfs in `tools/vm`. Each VM sees this
//! machine's root read-only over 9p with a tmpfs on top, so OVS, dnsmasq,
//! nftables and this build's `netloom` are the same binaries as here;
//! `e2e/vm/guest.sh` is its init: OVS, the agent, then a shell on the serial
//! console that [`Vm::sh`] drives.
//!
//! The VMs' network is a Linux bridge inside a namespace the test made, with
//! the controller's address on it: `netloom` runs there (network namespace
//! only), so every packet stays between the test's namespace and its VMs.
//! Dropping a [`VmLab`] kills the VMs and deletes that namespace (taps with
//! it), even when the test fails.

#![allow(dead_code)]

pub mod ovn;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The agents' port in every VM.
pub const PORT: u16 = 7321;
/// The VMs' network: the controller is `.1`, VM `i` is `.11 + i`.
const NET: &str = "10.124.0";
/// Generous: under TCG on a busy 2-core machine a boot takes 10–30 s.
const BOOT: Duration = Duration::from_secs(240);
/// One console command (an apply inside the VM is not one of them).
const COMMAND: Duration = Duration::from_secs(120);
/// Each answer of [`Vm::sh`] ends with this and the command's status.
const END: &str = "@@netloom-end";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cached kernel, modules and initramfs, or why there are none.
fn kernel_dir() -> PathBuf {
    let d = repo().join("tools/vm");
    assert!(
        d.join("ready").exists(),
        "no VM kernel in {}: run scripts/install-deps.sh (it runs scripts/vm-kernel.sh)",
        d.display()
    );
    d
}

/// One VM: qemu, its console's lines, and its console's input.
pub struct Vm {
    pub name: String,
    pub ip: String,
    qemu: Child,
    input: ChildStdin,
    lines: Receiver<String>,
    log: PathBuf,
    seq: u32,
}

impl Vm {
    /// Runs `cmd` in the VM's shell (as root) and returns what it printed
    /// (stdout and stderr) and its exit status.
    pub fn sh_status(&mut self, cmd: &str) -> (String, i32) {
        self.seq += 1;
        let marker = format!("{END}-{}", self.seq);
        writeln!(
            self.input,
            "( {cmd} ) 2>&1 </dev/null; echo \"{marker} $?\""
        )
        .and_then(|_| self.input.flush())
        .unwrap_or_else(|e| panic!("{}: console: {e}", self.name));
        let t0 = Instant::now();
        let mut out = String::new();
        loop {
            let left = COMMAND.saturating_sub(t0.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(l) => match l.strip_prefix(&marker) {
                    Some(code) => return (out, code.trim().parse().unwrap_or(-1)),
                    None => {
                        out.push_str(&l);
                        out.push('\n');
                    }
                },
                Err(e) => panic!(
                    "{}: no answer to {cmd:?} ({e:?}); so far:\n{out}\nconsole:\n{}",
                    self.name,
                    self.tail()
                ),
            }
        }
    }

    /// Runs `cmd` in the VM and requires success.
    pub fn sh(&mut self, cmd: &str) -> String {
        let (out, code) = self.sh_status(cmd);
        assert_eq!(code, 0, "{}: `{cmd}` failed:\n{out}", self.name);
        out
    }

    /// Adds `user`, who may run anything as root through `sudo -n`: Debian's
    /// sudo (unpacked beside the kernel) copied into the VM's root, setuid,
    /// with its sudoers and PAM files. The controller's key logs in; the
    /// password is `*`, none, yet not `!` (locked), which sshd without PAM refuses.
    pub fn add_sudoer(&mut self, user: &str) {
        let sudo = kernel_dir().join("sudo");
        self.sh(&format!(
            "cp -a {s}/usr/bin/sudo /usr/bin/sudo && mkdir -p /usr/libexec/sudo && \
             cp -a {s}/usr/libexec/sudo/. /usr/libexec/sudo/ && \
             cp {s}/etc/pam.d/sudo /etc/pam.d/sudo && \
             echo '{user} ALL=(root) NOPASSWD: ALL' > /etc/sudoers && chmod 440 /etc/sudoers && \
             useradd -M -d /tmp -s /bin/sh -p '*' {user}",
            s = sudo.display()
        ));
    }

    /// The end of the console and qemu's own errors, for a failure message
    /// (the files go with the lab).
    fn tail(&self) -> String {
        let read = |f: &Path| std::fs::read_to_string(f).unwrap_or_default();
        let console = read(&self.log);
        let lines: Vec<&str> = console.lines().collect();
        let from = lines.len().saturating_sub(60);
        format!(
            "{}\nqemu: {}",
            lines[from..].join("\n"),
            read(&self.log.with_file_name("qemu.err"))
        )
    }

    fn wait_ready(&mut self) {
        let t0 = Instant::now();
        loop {
            match self.lines.recv_timeout(BOOT.saturating_sub(t0.elapsed())) {
                Ok(l) if l.starts_with("netloom-vm-ready") => return,
                Ok(l) if l.starts_with("netloom-vm-failed") => {
                    let rest: Vec<String> = self.lines.try_iter().collect();
                    panic!("{}: {l}\n{}", self.name, rest.join("\n"))
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: not up in {BOOT:?}; console:\n{}",
                        self.name,
                        self.tail()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: qemu exited during boot:\n{}", self.name, self.tail())
                }
            }
        }
    }
}

/// N VMs on a network of their own, each with OVS (kernel datapath) and an
/// agent that serves the listed topologies with one token.
pub struct VmLab {
    pub vms: Vec<Vm>,
    /// The controller's agents file (`NETLOOM_AGENTS`).
    pub agents: PathBuf,
    /// The controller's ssh configuration (`NETLOOM_SSH_CONFIG`): its key and
    /// the VMs' host keys, none of this machine's own.
    pub ssh_config: PathBuf,
    pub dir: PathBuf,
    net: netloom_e2e::Netns,
}

/// The token every VM's agent accepts (for the topologies given to [`VmLab::boot`]).
const TOKEN: &str = "vm0123456789abcdef0123456789abcd";

impl VmLab {
    /// Boots `n` VMs at once (they boot in parallel, one vCPU each).
    pub fn boot(tag: &str, n: usize, topologies: &[&str]) -> VmLab {
        let kernel = kernel_dir();
        // Not under /tmp: the VMs read these files over 9p from this machine's root.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vm-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let net = netloom_e2e::Netns::new(tag);
        let ip = |args: &[&str]| {
            let mut a = vec!["ip", "-n", net.name()];
            a.extend_from_slice(args);
            netloom_e2e::run(&a);
        };
        ip(&["link", "add", "vmbr", "type", "bridge"]);
        ip(&["link", "set", "vmbr", "up"]);
        ip(&["addr", "add", &format!("{NET}.1/24"), "dev", "vmbr"]);
        let ssh = SshKeys::new(&dir);
        let token = dir.join("token");
        netloom_e2e::write_secret(&token, &format!("{TOKEN} {}\n", topologies.join(" ")));
        let mut trust = String::new();
        let mut vms = Vec::new();
        let mut agents = Vec::new();
        for i in 0..n {
            let name = format!("vm{}", i + 1);
            let addr = format!("{NET}.{}", 11 + i);
            let tap = format!("tap{}", i + 1);
            ip(&["tuntap", "add", &tap, "mode", "tap"]);
            ip(&["link", "set", &tap, "master", "vmbr", "up"]);
            let vdir = dir.join(&name);
            std::fs::create_dir_all(&vdir).unwrap();
            std::fs::copy(&token, vdir.join("token")).unwrap();
            let c = rcgen::generate_simple_self_signed(vec![addr.clone()]).unwrap();
            std::fs::write(vdir.join("cert.pem"), c.cert.pem()).unwrap();
            netloom_e2e::write_secret(&vdir.join("key.pem"), &c.signing_key.serialize_pem());
            trust.push_str(&c.cert.pem());
            ssh.allow(&vdir, &addr);
            agents.push(format!("https://{addr}:{PORT}"));
            vms.push(start(&kernel, &net, &name, &addr, &tap, i, &vdir));
        }
        let ca = dir.join("trust.pem");
        std::fs::write(&ca, trust).unwrap();
        let ca = ca.to_str().unwrap().to_string();
        let entries: Vec<(&str, &str, Option<&str>)> = agents
            .iter()
            .map(|u| (u.as_str(), TOKEN, Some(ca.as_str())))
            .collect();
        let agents = super::apply_support::agents_file(&dir, &entries);
        // The VMs over SSH too: listed, with no token (SSH authenticates them).
        let mut listed = std::fs::read_to_string(&agents).unwrap();
        for vm in &vms {
            listed.push_str(&format!("ssh://root@{}\n", vm.ip));
        }
        std::fs::write(&agents, listed).unwrap();
        let mut lab = VmLab {
            vms,
            agents,
            ssh_config: ssh.config,
            dir,
            net,
        };
        for vm in &mut lab.vms {
            vm.wait_ready();
        }
        lab
    }

    /// `ssh://root@ADDR` of VM `i`.
    pub fn ssh_url(&self, i: usize) -> String {
        format!("ssh://root@{}", self.vms[i].ip)
    }

    /// `https://ADDR:PORT` of VM `i`'s agent.
    pub fn url(&self, i: usize) -> String {
        format!("https://{}:{PORT}", self.vms[i].ip)
    }

    /// The namespace the VMs' bridge and the controller's address are in.
    pub fn netns(&self) -> &str {
        self.net.name()
    }

    /// The example `example` as topology `name` on these VMs: its host `i`
    /// is VM `i`, with its underlay address and its agent at `agent(i)`.
    pub fn example(&self, example: &str, name: &str, agent: impl Fn(usize) -> String) -> String {
        let file = repo().join("examples").join(example);
        let text = std::fs::read_to_string(file).expect("example");
        let mut out = format!("underlay: {}\n", self.underlay());
        let (mut in_hosts, mut host) = (false, 0);
        for line in text.lines() {
            if !line.starts_with(' ') && !line.starts_with('#') {
                in_hosts = line.trim_end() == "hosts:";
            }
            match line.strip_prefix("name: ") {
                Some(_) => out.push_str(&format!("name: {name}\n")),
                None => out.push_str(&format!("{line}\n")),
            }
            if in_hosts && line.starts_with("  - name: ") {
                out.push_str(&format!(
                    "    underlay_ip: {}\n    agent: {}\n",
                    self.vms[host].ip,
                    agent(host)
                ));
                host += 1;
            }
        }
        assert!(
            (1..=self.vms.len()).contains(&host),
            "{example}: {host} hosts for {} VMs",
            self.vms.len()
        );
        out
    }

    /// The underlay the VMs share.
    pub fn underlay(&self) -> String {
        format!("{NET}.0/24")
    }

    /// `netloom ARGS` as the controller: in the VMs' network, with the agents file.
    pub fn netloom(&self, args: &[&str]) -> Output {
        self.netloom_with(args, &[])
    }

    /// `netloom ARGS`, which must succeed: its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.netloom(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "netloom {args:?}:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }

    /// [`VmLab::ok`] read as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
    }

    /// [`VmLab::netloom`] with more (or other) environment.
    pub fn netloom_with(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut c = self.command(args);
        c.envs(env.iter().copied());
        c.output().expect("netloom")
    }

    /// `netloom ARGS` as the controller, to start and wait for later.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.net.name()))
            .arg("--")
            .arg(super::apply_support::bin())
            .args(args)
            .env("NETLOOM_AGENTS", &self.agents)
            .env("NETLOOM_SSH_CONFIG", &self.ssh_config);
        c
    }
}

/// The controller's key pair and the VMs' host keys, made for the test.
struct SshKeys {
    key: PathBuf,
    known_hosts: PathBuf,
    config: PathBuf,
}

fn keygen(path: &Path) {
    netloom_e2e::run(&[
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "netloom-e2e",
        "-f",
        path.to_str().unwrap(),
    ]);
}

impl SshKeys {
    fn new(dir: &Path) -> SshKeys {
        let key = dir.join("id_ed25519");
        keygen(&key);
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, "").unwrap();
        let config = dir.join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n",
                key.display(),
                known_hosts.display()
            ),
        )
        .unwrap();
        SshKeys {
            key,
            known_hosts,
            config,
        }
    }

    /// VM `addr`'s host key and the controller's key allowed in, in `vdir`.
    fn allow(&self, vdir: &Path, addr: &str) {
        let host_key = vdir.join("ssh_host_key");
        keygen(&host_key);
        let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let mut kh = std::fs::read_to_string(&self.known_hosts).unwrap();
        kh.push_str(&format!("{addr} {public}"));
        std::fs::write(&self.known_hosts, kh).unwrap();
        std::fs::copy(self.key.with_extension("pub"), vdir.join("authorized_keys")).unwrap();
    }
}

impl Drop for VmLab {
    fn drop(&mut self) {
        for vm in &mut self.vms {
            let _ = vm.qemu.kill();
            let _ = vm.qemu.wait();
        }
        // The namespace (and its taps) goes with `net`; then the files.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// qemu for one VM, its console read line by line into a channel (and a log).
fn start(
    kernel: &Path,
    net: &netloom_e2e::Netns,
    name: &str,
    addr: &str,
    tap: &str,
    i: usize,
    vdir: &Path,
) -> Vm {
    let cmdline =
        format!(
        "console=ttyS0 loglevel=1 panic=-1 vmscript={guest} name={name} me={addr}/24 ip={addr} \
         port={PORT} dir={dir} mods={mods} netloom={bin}",
        guest = repo().join("e2e/vm/guest.sh").canonicalize().unwrap().display(),
        dir = vdir.display(),
        mods = kernel.join("root/lib/modules").display(),
        bin = super::apply_support::bin().canonicalize().unwrap().display(),
    );
    let k = |f: &str| kernel.join(f).to_str().unwrap().to_string();
    let mut qemu = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", net.name()))
        .args(["--", "qemu-system-x86_64", "-accel", "tcg", "-m", "768", "-smp", "1"])
        .args(["-kernel", &k("vmlinuz"), "-initrd", &k("initrd.gz")])
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
        .args(["-no-reboot", "-append", &cmdline])
        .args([
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap",
        ])
        .args(["-netdev", &format!("tap,id=n0,ifname={tap},script=no,downscript=no")])
        .args([
            "-device",
            &format!("virtio-net-pci,netdev=n0,mac=52:54:00:00:09:{:02x}", i + 1),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(vdir.join("qemu.err")).unwrap())
        .spawn()
        .expect("qemu-system-x86_64 (scripts/install-deps.sh installs it)");
    let input = qemu.stdin.take().unwrap();
    let out = qemu.stdout.take().unwrap();
    let log = vdir.join("console.log");
    let mut file = std::fs::File::create(&log).unwrap();
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            let l = l.trim_end_matches('\r').to_string();
            let _ = writeln!(file, "{l}");
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Vm {
        name: name.to_string(),
        ip: addr.to_string(),
        qemu,
        input,
        lines,
        log,
        seq: 0,
    }
}

/// What a VM has that a lab must leave as it found it.
pub fn inventory(vm: &mut Vm) -> String {
    vm.sh(
        "ip -o link show | cut -d: -f2 | sort; ip netns list; nft list tables; \
         ovs-vsctl list-br; ovs-vsctl get Open_vSwitch . external_ids; \
         ls -A /run/netloom 2>/dev/null; \
         ps -eo args | grep -v grep | grep -c -e dnsmasq -e 'nl-' -e ovn-controller || true",
    )
}

/// What a VM's network looks like, for a failure message.
pub fn diagnose(vm: &mut Vm) -> String {
    let out = vm.sh_status(
        "ovs-vsctl show; ovs-dpctl show; ovs-dpctl dump-flows; nft list ruleset; \
         for n in $(ip netns list | cut -d' ' -f1); do echo \"== $n\"; ip -n $n -br addr; \
         ip -n $n route; ip -n $n neigh; done; \
         echo '== ovs-vswitchd.log'; tail -n 40 /var/log/openvswitch/ovs-vswitchd.log",
    );
    format!("==== {}:\n{}", vm.name, out.0)
}

/// vm1 → vm3 (10.0.10.2) across the tunnel in VLAN 10: the largest IPv4
/// packet the simulator delivers is the largest the kernels deliver with DF set.
pub fn largest_packet(vms: &mut VmLab, lab: &super::apply_support::Lab) {
    let delivers = |ip_len: u32| {
        let size = ip_len.to_string();
        let args = [
            "simulate",
            lab.path(),
            "--from",
            "vm1",
            "--to",
            "10.0.10.2",
            "--size",
            &size,
        ];
        vms.ok(&args).contains("Final: delivered")
    };
    // The simulator's largest, by bisection between a size that fits and one that cannot.
    let (mut fits, mut too_big) = (1000, 1500);
    assert!(delivers(fits) && !delivers(too_big));
    while too_big - fits > 1 {
        let mid = (fits + too_big) / 2;
        if delivers(mid) {
            fits = mid;
        } else {
            too_big = mid;
        }
    }
    let vm1 = format!("nl-{}.node1.vm1", lab.name);
    for (ip_len, predicted) in [(fits, true), (too_big, false)] {
        let (out, code) = vms.vms[0].sh_status(&format!(
            "ip netns exec {vm1} ping -c 2 -i 0.3 -W 3 -M do -s {} -q -n 10.0.10.2",
            ip_len - 28
        ));
        assert_eq!(
            code == 0,
            predicted,
            "{}: IPv4 length {ip_len}: the simulator's largest is {fits}; the kernel:\n{out}",
            lab.name
        );
    }
}
