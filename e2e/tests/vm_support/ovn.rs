//! An existing OVN central for the VMs, as a real deployment has one: the
//! northbound and southbound `ovsdb-server`s and `ovn-northd`, run inside
//! the VMs' namespace on this machine, the databases listening over TLS
//! (`pssl`) at the controller's address; and the TLS files of each side.
//!
//! One certificate authority (made here, in the lab's directory) signs the
//! central's certificate, the controller's (netloom's) and every chassis'.
//! A topology names ONE set of TLS paths for all machines, so the files live
//! at the same paths everywhere: [`Central::tls`] on this machine holds the
//! controller's, and [`Central::install_chassis`] writes a VM's own key and
//! certificate over the same paths in that VM (its root is a tmpfs overlay on
//! this machine's, so the VM sees its own files there, this machine its own).
//!
//! OVS's TLS checks only that the peer's certificate chains to the CA file,
//! not its name. With RBAC ([`Central::start`]'s `rbac`), the southbound
//! also checks that a chassis writes only its own rows, its own being those
//! of the chassis named by its certificate's CN: each chassis' certificate is
//! issued to its system-id.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::{Vm, VmLab, NET};

/// The central's ports, as OVN's documentation and `ovn-ctl` use them.
pub const NB_PORT: u16 = 6641;
pub const SB_PORT: u16 = 6642;

/// The three TLS files, at the same paths on every machine.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub private_key: PathBuf,
    pub certificate: PathBuf,
    pub ca_certificate: PathBuf,
}

/// A running central and its certificate authority. Dropping it stops the
/// three daemons and removes its files, even when the test fails (and the
/// lab's namespace, dropped after it, would kill them anyway).
pub struct Central {
    ns: String,
    /// Databases, sockets, pidfiles and logs.
    dir: PathBuf,
    /// The controller's TLS files; each chassis has its own at these paths.
    pub tls: TlsFiles,
    ca: Issuer<'static, KeyPair>,
}

/// The central's daemons, in the order they stop (`NAME.pid` in its directory).
const DAEMONS: [&str; 3] = ["northd", "sb", "nb"];

impl Central {
    /// Makes the PKI in `lab.dir` (`ovn-tls/` for the TLS files, the CA's
    /// certificate among them) and starts NB, SB and northd in the lab's
    /// namespace: NB on `pssl:6641` and SB on `pssl:6642` at the
    /// controller's address (and unix sockets in `lab.dir/ovn-central/`,
    /// which northd uses). With `rbac`, the southbound's TLS listener has
    /// the role `ovn-controller`, as OVN's documentation deploys it: a chassis
    /// may then write only the rows of the chassis its certificate's CN
    /// names, and the controller's certificate (CN `netloom`) may only read.
    pub fn start(lab: &VmLab, rbac: bool) -> Central {
        let dir = lab.dir.join("ovn-central");
        let tls_dir = lab.dir.join("ovn-tls");
        for d in [&dir, &tls_dir] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "netloom-e2e OVN CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        let tls = TlsFiles {
            private_key: tls_dir.join("privkey.pem"),
            certificate: tls_dir.join("cert.pem"),
            ca_certificate: tls_dir.join("cacert.pem"),
        };
        std::fs::write(&tls.ca_certificate, ca_pem).unwrap();
        // Constructed before any daemon starts: a failed start still stops the others.
        let central = Central {
            ns: lab.netns().to_string(),
            dir,
            tls,
            ca: Issuer::new(params, key),
        };
        let (key, cert) = central.issue("netloom");
        netloom_e2e::write_secret(&central.tls.private_key, &key);
        std::fs::write(&central.tls.certificate, cert).unwrap();
        central.start_daemons(rbac);
        central
    }

    /// A new key and a certificate for `name` signed by the CA (PEM, PEM).
    pub fn issue(&self, name: &str) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (key.serialize_pem(), cert.pem())
    }

    fn start_daemons(&self, rbac: bool) {
        // The central's own certificate, for its two database servers.
        let (key, cert) = self.issue("ovn-central");
        let (key_file, cert_file) = (
            self.dir.join("central-key.pem"),
            self.dir.join("central-cert.pem"),
        );
        netloom_e2e::write_secret(&key_file, &key);
        std::fs::write(&cert_file, cert).unwrap();
        let d = |f: &str| self.dir.join(f).display().to_string();
        for (db, port) in [("nb", NB_PORT), ("sb", SB_PORT)] {
            let schema = format!("/usr/share/ovn/ovn-{db}.ovsschema");
            netloom_e2e::run(&["ovsdb-tool", "create", &d(&format!("{db}.db")), &schema]);
            // A role is a property of a `Connection` row: with RBAC the
            // southbound's TLS listener is one, as `ovn-sbctl set-connection` makes it.
            let remote = match (db, rbac) {
                ("sb", true) => "--remote=db:OVN_Southbound,SB_Global,connections".to_string(),
                _ => format!("--remote=pssl:{port}:{NET}.1"),
            };
            self.exec(&[
                "ovsdb-server",
                &d(&format!("{db}.db")),
                &format!("--remote=punix:{}", d(&format!("{db}.sock"))),
                &remote,
                &format!("--private-key={}", key_file.display()),
                &format!("--certificate={}", cert_file.display()),
                &format!("--ca-cert={}", self.tls.ca_certificate.display()),
                &format!("--pidfile={}", d(&format!("{db}.pid"))),
                &format!("--unixctl={}", d(&format!("{db}.ctl"))),
                &format!("--log-file={}", d(&format!("{db}.log"))),
                "--detach",
            ]);
        }
        netloom_e2e::run(&["ovn-nbctl", &format!("--db=unix:{}", d("nb.sock")), "init"]);
        if rbac {
            let sb = format!("--db=unix:{}", d("sb.sock"));
            let listen = format!("pssl:{SB_PORT}:{NET}.1");
            netloom_e2e::run(&[
                "ovn-sbctl",
                &sb,
                "set-connection",
                "role=ovn-controller",
                &listen,
            ]);
            // ovsdb-server opens it on its next loop: listening before a chassis tries
            // (a refused chassis backs off for up to 8 s).
            let port = format!("sport = :{SB_PORT}");
            let t0 = Instant::now();
            while self.exec(&["ss", "-Hltn", &port]).trim().is_empty() {
                assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "southbound: not listening"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.exec(&[
            "ovn-northd",
            &format!("--ovnnb-db=unix:{}", d("nb.sock")),
            &format!("--ovnsb-db=unix:{}", d("sb.sock")),
            &format!("--pidfile={}", d("northd.pid")),
            &format!("--unixctl={}", d("northd.ctl")),
            &format!("--log-file={}", d("northd.log")),
            "--detach",
        ]);
    }

    /// `argv` in the lab's namespace; it must succeed.
    fn exec(&self, argv: &[&str]) -> String {
        let mut a = vec!["ip", "netns", "exec", self.ns.as_str()];
        a.extend_from_slice(argv);
        String::from_utf8_lossy(&netloom_e2e::run(&a).stdout).into_owned()
    }

    /// `ssl:10.124.0.1:6641`, the northbound as the controller and the topology name it.
    pub fn northbound(&self) -> String {
        format!("ssl:{NET}.1:{NB_PORT}")
    }

    /// `ssl:10.124.0.1:6642`, the southbound as every chassis reaches it.
    pub fn southbound(&self) -> String {
        format!("ssl:{NET}.1:{SB_PORT}")
    }

    /// The topology's `ovn:` block (top level, two-space indent).
    pub fn topology_yaml(&self) -> String {
        format!(
            "ovn:\n  northbound: {}\n  southbound: {}\n  private_key: {}\n  certificate: {}\n  ca_certificate: {}\n",
            self.northbound(),
            self.southbound(),
            self.tls.private_key.display(),
            self.tls.certificate.display(),
            self.tls.ca_certificate.display()
        )
    }

    /// The example `example` as topology `name` on `lab`'s VMs
    /// ([`VmLab::example`], each host's agent over TLS) under `engine: ovn`
    /// with this central. Host `H`'s chassis is `name.H` (its system-id).
    pub fn example(&self, lab: &VmLab, example: &str, name: &str) -> String {
        let text = lab.example(example, name, |i| lab.url(i));
        assert!(!text.contains("\nengine:"), "{example} names an engine");
        format!("engine: ovn\n{}{text}", self.topology_yaml())
    }

    /// The TLS options of `ovn-nbctl`, `ovn-sbctl` and `ovn-controller`.
    fn tls_args(&self) -> [String; 3] {
        [
            format!("--private-key={}", self.tls.private_key.display()),
            format!("--certificate={}", self.tls.certificate.display()),
            format!("--ca-cert={}", self.tls.ca_certificate.display()),
        ]
    }

    /// `ovn-nbctl ARGS` as the controller: over TLS with its files, from the
    /// lab's namespace (what netloom does). Must succeed; returns stdout.
    pub fn nbctl(&self, args: &[&str]) -> String {
        self.ctl("ovn-nbctl", &self.northbound(), args)
    }

    /// `ovn-sbctl ARGS`, as [`Central::nbctl`].
    pub fn sbctl(&self, args: &[&str]) -> String {
        self.ctl("ovn-sbctl", &self.southbound(), args)
    }

    fn ctl(&self, tool: &str, db: &str, args: &[&str]) -> String {
        let o = self.try_ctl(tool, db, args);
        assert!(
            o.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `ovn-sbctl ARGS` as the controller, whatever its outcome (RBAC refuses it some).
    pub fn try_sbctl(&self, args: &[&str]) -> Output {
        self.try_ctl("ovn-sbctl", &self.southbound(), args)
    }

    fn try_ctl(&self, tool: &str, db: &str, args: &[&str]) -> Output {
        let db = format!("--db={db}");
        let tls = self.tls_args();
        let mut a = vec!["ip", "netns", "exec", &self.ns, tool, &db, "--timeout=30"];
        a.extend(tls.iter().map(String::as_str));
        a.extend_from_slice(args);
        netloom_e2e::try_run(&a)
    }

    /// The names of the southbound's `Chassis` rows, sorted.
    pub fn chassis(&self) -> Vec<String> {
        let mut names = words(&self.sbctl(&["--bare", "--columns=name", "list", "Chassis"]));
        names.sort();
        names
    }

    /// The southbound's `Encap` rows, as `TYPE IP` of each, sorted.
    pub fn encaps(&self) -> Vec<String> {
        let out = self.sbctl(&[
            "--bare",
            "--columns=type,ip",
            "--format=csv",
            "--no-headings",
            "list",
            "Encap",
        ]);
        let mut rows: Vec<String> = out.lines().map(|l| l.replace(',', " ")).collect();
        rows.sort();
        rows
    }

    /// The northbound's rows marked as `topology`'s
    /// (`external_ids:netloom-topology`), as `Table id` each, sorted: in the
    /// tables netloom writes, a row's `name`, or for the tables without one
    /// (NAT, static routes) its `external_ids:netloom-key`.
    pub fn marked(&self, topology: &str) -> Vec<String> {
        let mark = format!("external_ids:netloom-topology={topology}");
        let mut rows = Vec::new();
        for table in [
            "Logical_Switch",
            "Logical_Switch_Port",
            "Logical_Router",
            "Logical_Router_Port",
            "Load_Balancer",
        ] {
            let out = self.nbctl(&["--bare", "--columns=name", "find", table, &mark]);
            rows.extend(words(&out).into_iter().map(|n| format!("{table} {n}")));
        }
        for table in ["Logical_Router_Static_Route", "NAT"] {
            // A bare map reads `key=value key=value`.
            let out = self.nbctl(&["--bare", "--columns=external_ids", "find", table, &mark]);
            rows.extend(
                words(&out)
                    .iter()
                    .filter_map(|w| w.strip_prefix("netloom-key="))
                    .map(|k| format!("{table} {}", k.trim_matches('"'))),
            );
        }
        rows.sort();
        rows
    }

    /// Both databases' `show`, read over their unix sockets (whatever
    /// their TLS listeners do), for a failure message.
    pub fn show(&self) -> String {
        let mut out = String::new();
        for (tool, db) in [("ovn-sbctl", "sb"), ("ovn-nbctl", "nb")] {
            let sock = format!(
                "--db=unix:{}",
                self.dir.join(format!("{db}.sock")).display()
            );
            let o = netloom_e2e::try_run(&[tool, &sock, "--timeout=5", "show"]);
            out.push_str(&String::from_utf8_lossy(&o.stdout));
            out.push_str(&String::from_utf8_lossy(&o.stderr));
        }
        out
    }

    /// Waits until `check` holds, up to `limit`; panics with `what` and the
    /// central's state otherwise.
    pub fn wait(&self, what: &str, limit: Duration, mut check: impl FnMut(&Central) -> bool) {
        let t0 = Instant::now();
        while !check(self) {
            if t0.elapsed() > limit {
                panic!("OVN central: {what}: not after {limit:?}\n{}", self.show());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Writes a key and certificate issued to `system_id` at [`Central::tls`]'s
    /// paths inside `vm` (over this machine's files, in its overlay): the
    /// files a topology's `ovn:` names, as the VM sees them. The CA's
    /// certificate is the same everywhere: the VM reads this machine's.
    pub fn install_chassis(&self, vm: &mut Vm, system_id: &str) {
        let (key, cert) = self.issue(system_id);
        // Passed through this machine's files (the VM reads them over 9p):
        // the console takes one line a command.
        let from = self.dir.join(format!("chassis-{}", vm.name));
        std::fs::create_dir_all(&from).unwrap();
        netloom_e2e::write_secret(&from.join("privkey.pem"), &key);
        std::fs::write(from.join("cert.pem"), cert).unwrap();
        let t = &self.tls;
        vm.sh(&format!(
            "cp {from}/privkey.pem {key} && chmod 600 {key} && cp {from}/cert.pem {cert}",
            from = from.display(),
            key = t.private_key.display(),
            cert = t.certificate.display(),
        ));
        // Its own certificate, not this machine's, is what the VM now reads there.
        let seen = vm.sh(&format!(
            "openssl x509 -noout -subject -in {}",
            t.certificate.display()
        ));
        assert!(seen.contains(system_id), "{}: {seen}", vm.name);
    }
}

fn words(out: &str) -> Vec<String> {
    out.split_whitespace().map(str::to_owned).collect()
}

/// Sends SIGTERM to the process named by `pidfile`, and waits (a moment) until it is gone.
fn stop(pidfile: &Path) {
    let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return;
    };
    let pid = pid.to_string();
    netloom_e2e::try_run(&["kill", "-TERM", &pid]);
    let proc = Path::new("/proc").join(&pid);
    let t0 = Instant::now();
    while proc.exists() && t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if proc.exists() {
        netloom_e2e::try_run(&["kill", "-KILL", &pid]);
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        for d in DAEMONS {
            stop(&self.dir.join(format!("{d}.pid")));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
