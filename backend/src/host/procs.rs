//! The processes netloom supervises: one ovsdb-server + ovs-vswitchd per
//! emulated host, dnsmasq per DHCP server, udhcpc once per DHCP client (or
//! running on, for a client the model predicts no lease for), nft.
//! Always argv, never a shell; daemons are found again by their pidfiles.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netloom_core::ovn::Tls;
use netloom_core::plan::{ovn_external_ids, OvnChassis, SYSTEM_OVSDB};
use serde_json::json;

use super::netns;
use super::ovsdb::{Ovsdb, OvsdbError};

/// Errors of a supervised process.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{what} exited with {status}: {stderr}")]
    Failed {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Ovsdb(#[from] OvsdbError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ProcError {
    let what = what.into();
    move |source| ProcError::Io { what, source }
}

/// Run a command to completion inside `ns`, feeding `stdin`; fail with its stderr.
pub fn run(ns: &str, argv: &[&str], stdin: Option<&str>) -> Result<String, ProcError> {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    run_command(ns, cmd, &argv.join(" "), stdin)
}

/// [`run`] for a command already set up (arguments, environment).
fn run_command(
    ns: &str,
    mut cmd: Command,
    what: &str,
    stdin: Option<&str>,
) -> Result<String, ProcError> {
    let what = what.to_string();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = netns::command_in(ns, cmd)
        .map_err(io_err(&what))?
        .spawn()
        .map_err(io_err(&what))?;
    if let (Some(text), Some(mut sin)) = (stdin, child.stdin.take()) {
        sin.write_all(text.as_bytes()).map_err(io_err(&what))?;
    }
    let out = child.wait_with_output().map_err(io_err(&what))?;
    if !out.status.success() {
        return Err(ProcError::Failed {
            what,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The pid in a pidfile, when that process is alive: a zombie is not (a
/// daemon killed outright stays one where init does not reap, as in a
/// container whose first process is not an init).
pub fn alive_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    (pid > 0 && !gone(pid)).then_some(pid)
}

/// True when process `pid` is gone, or a zombie that no longer holds anything.
fn gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty()
        || stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
}

/// Wait until a process is gone (reaped by its parent or by init).
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// SIGHUP the dnsmasq of a pidfile, when it runs (it then re-reads its
/// hosts). Only a dnsmasq: to most daemons SIGHUP is fatal, and a stale
/// pidfile may name another process by now.
pub fn hangup_dnsmasq(pidfile: &Path) {
    if let Some(pid) = alive_pid(pidfile).filter(|&p| runs(p, "dnsmasq")) {
        // SAFETY: a live dnsmasq whose pid our own pidfile holds.
        unsafe { libc::kill(pid, libc::SIGHUP) };
    }
}

/// The file name of a program as `/proc/PID/exe` names it, also once the
/// file was replaced (an upgrade, a rebuild: "NAME (deleted)").
fn program_name(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.strip_suffix(" (deleted)").unwrap_or(&name).to_string()
}

/// This netloom program's name: a sandbox agent runs it too.
fn netloom_program() -> String {
    program_name(&std::env::current_exe().unwrap_or_default())
}

/// True when process `pid` runs the program named `exe`.
pub(crate) fn runs(pid: i32, exe: &str) -> bool {
    program_name(&std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default()) == exe
}

/// Stop the daemon of a pidfile, program `exe`: SIGTERM, then SIGKILL after
/// `grace`; remove the pidfile. A pid now another program's is left alone:
/// a daemon that died without removing its pidfile may see its pid reused.
pub fn stop(pidfile: &Path, exe: &str, grace: Duration) {
    if let Some(pid) = alive_pid(pidfile).filter(|&p| runs(p, exe)) {
        // SAFETY: a pid read from our own pidfile, checked alive and ours.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if !wait_gone(pid, grace) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_gone(pid, Duration::from_secs(2));
        }
    }
    let _ = std::fs::remove_file(pidfile);
}

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A new, empty OVSDB file of `schema`, as `ovsdb-tool create` writes it: one
/// record, `OVSDB JSON <length> <sha1>` then the schema. Written in-process
/// because a new emulated host waits for it (the tool costs about 8 ms).
pub fn new_database(schema: &str) -> Result<Vec<u8>, io::Error> {
    let value: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| io::Error::other(format!("{SCHEMA}: {e}")))?;
    let mut record = value.to_string().into_bytes();
    record.push(b'\n');
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &record);
    let hex: String = sha1.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut out = format!("OVSDB JSON {} {hex}\n", record.len()).into_bytes();
    out.extend(record);
    Ok(out)
}

/// Start an emulated host's Open vSwitch inside `ns`, files in `dir`: the
/// database file, `ovsdb-server --detach`, the Open_vSwitch row
/// (`ovs-vsctl init`) with the bridge `first` (marked as `topology`'s, with
/// only its own port), `ovs-vswitchd --detach`. Leftovers of a failed start go first.
/// A new ovs-vswitchd calibrates its userspace datapath for 0.1 s when it
/// first sees a bridge: with one there from its start, that overlaps the
/// rest of the host's making; the host's own steps then add its ports.
/// Both daemons get `dir` as their run directory (`OVS_RUNDIR`), where
/// ovs-vswitchd makes each bridge's `BRIDGE.mgmt` socket: emulated hosts
/// share bridge names (every one has the underlay bridge), so they must not share that.
pub fn start_ovs(
    ns: &str,
    dir: &str,
    first: &str,
    topology: &str,
    ovn: Option<&OvnChassis>,
) -> Result<(), ProcError> {
    clear_ovs(dir);
    std::fs::create_dir_all(dir).map_err(io_err(format!("mkdir {dir}")))?;
    let db = format!("{dir}/conf.db");
    let schema = std::fs::read_to_string(SCHEMA).map_err(io_err(SCHEMA))?;
    std::fs::write(&db, new_database(&schema).map_err(io_err(SCHEMA))?)
        .map_err(io_err(format!("write {db}")))?;
    let sock = format!("{dir}/db.sock");
    let mut cmd = Command::new("ovsdb-server");
    cmd.args([
        db,
        format!("--remote=punix:{sock}"),
        format!("--pidfile={dir}/ovsdb.pid"),
        format!("--unixctl={dir}/ovsdb.ctl"),
        format!("--log-file={dir}/ovsdb.log"),
        "--detach".to_string(),
    ])
    .env("OVS_RUNDIR", dir);
    // Its --detach parent returns once the database socket listens.
    run_command(ns, cmd, &format!("ovsdb-server in {ns}"), None)?;
    let ops = first_rows(first, topology, ovn);
    Ovsdb::connect(&sock)?.transact(ops)?;
    // Not waited for: its --detach parent returns only after the first
    // reconfiguration; the caller waits for `cur_cfg` when it matters.
    let what = format!("ovs-vswitchd in {ns}");
    let mut cmd = Command::new("ovs-vswitchd");
    cmd.args([
        format!("unix:{sock}"),
        format!("--pidfile={dir}/vswitchd.pid"),
        format!("--unixctl={dir}/vswitchd.ctl"),
        format!("--log-file={dir}/vswitchd.log"),
        "--detach".to_string(),
    ])
    .env("OVS_RUNDIR", dir)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = netns::command_in(ns, cmd)
        .map_err(io_err(&what))?
        .spawn()
        .map_err(io_err(&what))?;
    std::thread::spawn(move || child.wait());
    if ovn.is_some() {
        let mut cmd = Command::new("ovn-controller");
        cmd.args([
            format!("unix:{sock}"),
            format!("--pidfile={dir}/ovn-controller.pid"),
            format!("--log-file={dir}/ovn-controller.log"),
            "--detach".to_string(),
            "--monitor".to_string(),
        ])
        // It finds the integration bridge's `.mgmt` socket in OVS_RUNDIR;
        // its own control socket goes to OVN_RUNDIR. `--monitor` restarts
        // it after a crash: Debian's 23.03 was seen to die of a segmentation
        // fault in about one start of ten here, just after connecting to
        // its integration bridge, and the apply then waited for a chassis
        // that was gone.
        .env("OVS_RUNDIR", dir)
        .env("OVN_RUNDIR", dir);
        start_detached(ns, cmd, &format!("ovn-controller in {ns}"))?;
    }
    Ok(())
}

/// The first transaction of an emulated host's database: the bridge
/// `first` and, for an OVN chassis, its integration bridge (so
/// ovn-controller finds it, and does not make an unmarked one), each marked
/// as `topology`'s with only its own port; the `Open_vSwitch` row, with
/// the chassis' `external_ids`, or without OVN the emulated switch's tuning.
fn first_rows(first: &str, topology: &str, ovn: Option<&OvnChassis>) -> Vec<serde_json::Value> {
    let owner = super::ovsdb::map([(netloom_core::plan::OVS_OWNER_KEY, topology)]);
    let mut bridges: Vec<&str> = vec![first];
    bridges.extend(ovn.map(|c| c.bridge.as_str()));
    let mut ops = Vec::new();
    for (n, b) in bridges.iter().enumerate() {
        ops.extend([
            json!({"op": "insert", "table": "Interface", "uuid-name": format!("i{n}"),
                "row": {"name": b, "type": "internal"}}),
            json!({"op": "insert", "table": "Port", "uuid-name": format!("p{n}"),
                "row": {"name": b, "interfaces": ["named-uuid", format!("i{n}")], "external_ids": owner}}),
            json!({"op": "insert", "table": "Bridge", "uuid-name": format!("b{n}"),
                "row": {"name": b, "datapath_type": "netdev", "ports": ["named-uuid", format!("p{n}")],
                    "external_ids": owner}}),
        ]);
    }
    let refs: Vec<_> = (0..bridges.len())
        .map(|n| json!(["named-uuid", format!("b{n}")]))
        .collect();
    let ids = super::ovsdb::map(ovn.map(ovn_external_ids).unwrap_or_default());
    let tuning = match ovn {
        None => netloom_core::plan::EMULATED_OVS_TUNING.to_vec(),
        Some(_) => Vec::new(),
    };
    ops.push(json!({"op": "insert", "table": "Open_vSwitch",
        "row": {"bridges": ["set", refs], "external_ids": ids,
            "other_config": super::ovsdb::map(tuning)}}));
    ops
}

/// Run an OVS/OVN daemon with `--detach` in `ns`: its parent returns once
/// the daemon is up. Standard streams go to /dev/null: nobody reads them
/// once the parent has returned, and its log file says why it failed.
fn start_detached(ns: &str, mut cmd: Command, what: &str) -> Result<(), ProcError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = netns::command_in(ns, cmd)
        .map_err(io_err(what))?
        .status()
        .map_err(io_err(what))?;
    if status.success() {
        Ok(())
    } else {
        Err(ProcError::Failed {
            what: what.to_string(),
            status: status.to_string(),
            stderr: "see its log file".to_string(),
        })
    }
}

/// The files of an OVN central's databases in its directory: (name, schema).
const OVN_DBS: [(&str, &str); 2] = [
    ("nb", "/usr/share/ovn/ovn-nb.ovsschema"),
    ("sb", "/usr/share/ovn/ovn-sb.ovsschema"),
];

/// Start a topology's OVN central in this machine's namespace, files in
/// `dir`: the northbound and southbound ovsdb-servers (`--detach`, so each
/// listens when it returns), the `NB_Global` row, then `ovn-northd`.
/// Leftovers of a failed start go first.
pub fn start_ovn_central(dir: &str) -> Result<(), ProcError> {
    stop_ovn_central(dir);
    std::fs::create_dir_all(dir).map_err(io_err(format!("mkdir {dir}")))?;
    for (db, schema) in OVN_DBS {
        let file = format!("{dir}/{db}.db");
        let text = std::fs::read_to_string(schema).map_err(io_err(schema))?;
        std::fs::write(&file, new_database(&text).map_err(io_err(schema))?)
            .map_err(io_err(format!("write {file}")))?;
        let mut cmd = Command::new("ovsdb-server");
        cmd.args([
            file.clone(),
            format!("--remote=punix:{dir}/{db}.sock"),
            format!("--pidfile={dir}/{db}.pid"),
            format!("--unixctl={dir}/{db}.ctl"),
            format!("--log-file={dir}/{db}.log"),
            "--detach".to_string(),
        ]);
        start_detached("", cmd, &format!("ovsdb-server of {file}"))?;
    }
    Ovsdb::connect(&format!("{dir}/nb.sock"))?.transact_on(
        "OVN_Northbound",
        vec![json!({"op": "insert", "table": "NB_Global", "row": {}})],
    )?;
    let mut cmd = Command::new("ovn-northd");
    cmd.args([
        format!("--ovnnb-db=unix:{dir}/nb.sock"),
        format!("--ovnsb-db=unix:{dir}/sb.sock"),
        format!("--pidfile={dir}/northd.pid"),
        format!("--unixctl={dir}/northd.ctl"),
        format!("--log-file={dir}/northd.log"),
        "--detach".to_string(),
    ]);
    start_detached("", cmd, "ovn-northd")?;
    Ok(())
}

/// The pid of the OVN central's northbound database server in `dir`, when
/// all three of its daemons run.
pub fn ovn_central_running(dir: &str) -> Option<i32> {
    let d = Path::new(dir);
    let nb = alive_pid(&d.join("nb.pid"));
    nb.filter(|_| {
        alive_pid(&d.join("sb.pid")).is_some() && alive_pid(&d.join("northd.pid")).is_some()
    })
}

/// Stop an OVN central and remove its directory.
pub fn stop_ovn_central(dir: &str) {
    let d = Path::new(dir);
    for (p, exe) in [
        ("northd.pid", "ovn-northd"),
        ("sb.pid", "ovsdb-server"),
        ("nb.pid", "ovsdb-server"),
    ] {
        stop(&d.join(p), exe, Duration::from_secs(3));
    }
    let _ = std::fs::remove_dir_all(d);
}

/// The pid of `dir`'s ovn-controller, when it runs: the pidfile's process,
/// started with that pidfile (a pid that was reused is another process).
pub fn ovn_controller_running(dir: &str) -> Option<i32> {
    let pidfile = Path::new(dir).join("ovn-controller.pid");
    let pid = alive_pid(&pidfile)?;
    let arg = format!("--pidfile={}", pidfile.display());
    cmdline_args(pid).contains(&arg).then_some(pid)
}

/// The `ovn-controller`s on this machine that serve the OVSDB socket
/// `ovsdb` (given as `unix:PATH`, or none: the system's default).
pub fn ovn_controllers_on(ovsdb: &str) -> Vec<i32> {
    let want = format!("unix:{ovsdb}");
    // One started without a database uses the default (`/var/run` is `/run`).
    let default = ovsdb == SYSTEM_OVSDB || SYSTEM_OVSDB.strip_prefix("/var") == Some(ovsdb);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() != "ovn-controller" {
                return false;
            }
            match cmdline_args(*pid).into_iter().find(|a| !a.starts_with('-')) {
                Some(db) => db == want,
                None => default,
            }
        })
        .collect()
}

/// Start a real host's `ovn-controller` on its OVSDB `ovsdb`, files in
/// `dir`. It finds the integration bridge's `.mgmt` socket beside the
/// database's (`OVS_RUNDIR`).
pub fn start_ovn_controller(dir: &str, ovsdb: &str, tls: Option<&Tls>) -> Result<(), ProcError> {
    std::fs::create_dir_all(dir).map_err(io_err(format!("mkdir {dir}")))?;
    let rundir = Path::new(ovsdb).parent().unwrap_or(Path::new("/"));
    // Its errors before it detaches (a bad option, an unreadable file) go
    // to standard error, not to its log: kept in a file, since the daemon
    // inherits the stream and a pipe would stay open as long as it runs.
    let err_path = Path::new(dir).join("ovn-controller.err");
    let err = std::fs::File::create(&err_path).map_err(io_err(err_path.display().to_string()))?;
    let status = Command::new("ovn-controller")
        .args(netloom_core::plan::ovn_controller_args(dir, ovsdb, tls))
        .env("OVS_RUNDIR", rundir)
        .env("OVN_RUNDIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .status()
        .map_err(io_err("ovn-controller"))?;
    if status.success() {
        return Ok(());
    }
    Err(ProcError::Failed {
        what: "ovn-controller".to_string(),
        status: status.to_string(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// Stop a real host's `ovn-controller`: when `graceful`, with `exit`, so
/// that it removes its chassis from the southbound database first; then
/// (`exit` refused, or the chassis not gone in 10 s: a central that cannot
/// be reached) as any daemon. Then its files go.
pub fn stop_ovn_controller(dir: &str, graceful: bool) {
    if let Some(pid) = ovn_controller_running(dir).filter(|_| graceful) {
        // It has no --unixctl option: its socket is OVN_RUNDIR/ovn-controller.PID.ctl.
        let ctl = format!("{dir}/ovn-controller.{pid}.ctl");
        if run("", &["ovn-appctl", "--timeout=5", "-t", &ctl, "exit"], None).is_ok() {
            wait_gone(pid, Duration::from_secs(10));
        }
    }
    // Only the pidfile's own process: a reused pid is another's.
    if ovn_controller_running(dir).is_some() {
        stop(
            &Path::new(dir).join("ovn-controller.pid"),
            "ovn-controller",
            Duration::from_secs(3),
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// True when both daemons of `dir` run.
pub fn ovs_running(dir: &str) -> Option<i32> {
    let d = Path::new(dir);
    alive_pid(&d.join("ovsdb.pid")).and(alive_pid(&d.join("vswitchd.pid")))
}

/// Stop an emulated host's daemons (vswitchd first) and remove their files
/// and, when nothing else is left in it, their directory.
pub fn stop_ovs(dir: &str) {
    clear_ovs(dir);
    let _ = std::fs::remove_dir(dir);
}

/// Stop an emulated host's daemons and remove their files; the directory
/// stays (the host's agent starts in it at the same time).
fn clear_ovs(dir: &str) {
    let d = Path::new(dir);
    stop(
        &d.join("ovn-controller.pid"),
        "ovn-controller",
        Duration::from_secs(3),
    );
    stop(
        &d.join("vswitchd.pid"),
        "ovs-vswitchd",
        Duration::from_secs(3),
    );
    stop(&d.join("ovsdb.pid"), "ovsdb-server", Duration::from_secs(3));
    for f in [
        "conf.db",
        ".conf.db.~lock~",
        "db.sock",
        "ovsdb.ctl",
        "vswitchd.ctl",
        "ovsdb.log",
        "vswitchd.log",
        "ovn-controller.log",
    ] {
        let _ = std::fs::remove_file(d.join(f));
    }
    // Bridge sockets a killed ovs-vswitchd left behind.
    if let Ok(entries) = std::fs::read_dir(d) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let ovn_ctl = name.starts_with("ovn-controller.") && name.ends_with(".ctl");
            if name.ends_with(".mgmt") || name.ends_with(".snoop") || ovn_ctl {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Stop whatever daemon netloom starts that still runs from a pidfile
/// under `dir` (any depth), this process excepted: before a topology's
/// directory goes, so that none is left running that nothing could find
/// again (a central whose `ovn-northd` had died was not seen, so not
/// stopped, with its two database servers).
pub fn stop_all_under(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = netloom_program();
    let ours = [
        "ovsdb-server",
        "ovs-vswitchd",
        "ovn-northd",
        "ovn-controller",
        "dnsmasq",
        "busybox",
        me.as_str(),
    ];
    for e in entries.flatten() {
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            stop_all_under(&path);
        } else if path.extension().is_some_and(|x| x == "pid") {
            let pid = alive_pid(&path).filter(|&p| p != std::process::id() as i32);
            if let Some(exe) = pid.and_then(|p| ours.into_iter().find(|&x| runs(p, x))) {
                stop(&path, exe, Duration::from_secs(2));
            }
        }
    }
}

/// Stop a sandbox agent of a pidfile: this same netloom program.
pub fn stop_agent(pidfile: &Path) {
    stop(pidfile, &netloom_program(), Duration::from_secs(2));
}

/// Start an emulated host's agent inside `ns` (`netloom agent --listen unix:DIR/agent.sock`),
/// detached, and wait until it answers. The token file is made on first use.
pub fn start_agent(topology: &str, ns: &str, dir: &str) -> Result<(), ProcError> {
    use std::os::unix::fs::OpenOptionsExt;
    let d = Path::new(dir);
    stop_agent(&d.join("agent.pid"));
    std::fs::create_dir_all(dir).map_err(io_err(format!("mkdir {dir}")))?;
    let token_path = netloom_core::names::sandbox_token_path(topology);
    if !Path::new(&token_path).exists() {
        let token = crate::secret::new_token().map_err(io_err("read /dev/urandom"))?;
        // Write aside, then link: hosts' agents start in parallel, and none may read half a token.
        // (The name aside is random too, but not the token: names are visible to all.)
        let aside = crate::secret::new_token().map_err(io_err("read /dev/urandom"))?;
        let tmp = format!("{token_path}.{aside}.tmp");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| writeln!(f, "{token} {topology}"))
            .and_then(|_| {
                std::fs::hard_link(&tmp, &token_path).or_else(|e| {
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
            })
            .map_err(io_err(format!("write {token_path}")))?;
        let _ = std::fs::remove_file(&tmp);
    }
    let sock = d.join("agent.sock");
    let _ = std::fs::remove_file(&sock);
    let log = std::fs::File::create(d.join("agent.log")).map_err(io_err("agent log"))?;
    let exe = std::env::current_exe().map_err(io_err("locate the netloom binary"))?;
    let what = format!("netloom agent in {ns}");
    let mut cmd = Command::new(exe);
    cmd.arg("agent")
        .arg(format!("--listen=unix:{}", sock.display()))
        .arg(format!("--token-file={token_path}"))
        .arg(format!("--pidfile={dir}/agent.pid"))
        .env_remove("NETLOOM_FAIL_AT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let mut cmd = netns::command_in(ns, cmd).map_err(io_err(&what))?;
    // Its own session: the agent outlives the command that started it. Its
    // socket is root's only from the moment it is bound (umask).
    // SAFETY: setsid and umask are async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            libc::umask(0o077);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io_err(&what))?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if alive(&sock.to_string_lossy()) {
            // Reaped when it ends: a server that applies lives on, and each
            // agent destroy stops would stay a zombie of it.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(ProcError::Failed {
                what,
                status: st.to_string(),
                stderr: std::fs::read_to_string(d.join("agent.log")).unwrap_or_default(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(ProcError::Failed {
        what,
        status: "no answer within 5 s".into(),
        stderr: String::new(),
    })
}

/// Start dnsmasq in `ns` with `args` (it daemonizes and writes its pidfile).
pub fn start_dnsmasq(ns: &str, args: &[String]) -> Result<(), ProcError> {
    let mut argv = vec!["dnsmasq"];
    argv.extend(args.iter().map(String::as_str));
    run(ns, &argv, None).map(|_| ())
}

/// The arguments of a running process (`/proc/PID/cmdline` without argv\[0\]).
pub fn cmdline_args(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The fixed udhcpc script: it only writes the lease's variables to `$NETLOOM_LEASE`;
/// netloom then configures the address itself.
/// The file appears whole (written aside, then renamed): netloom takes it as
/// soon as it is there, without waiting for udhcpc to exit.
pub const UDHCPC_SCRIPT: &str = "#!/bin/sh\n\
case \"$1\" in bound|renew) printf 'ip=%s\\nmask=%s\\nrouter=%s\\n' \"$ip\" \"$mask\" \"$router\" > \"$NETLOOM_LEASE.new\" && mv \"$NETLOOM_LEASE.new\" \"$NETLOOM_LEASE\";; esac\n";

/// The udhcpc script of a client the model predicts no lease for, which runs
/// on after apply: a lease it gets anyway has no netloom to configure it,
/// so the script does (address, then default route), then writes the lease
/// file as [`UDHCPC_SCRIPT`] does, whole.
pub const UDHCPC_BACKGROUND_SCRIPT: &str = r#"#!/bin/sh
case "$1" in bound|renew)
  busybox ip addr add "$ip/$mask" dev "$interface" 2>/dev/null
  [ -n "$router" ] && busybox ip route replace default via "${router%% *}"
  printf 'ip=%s\nmask=%s\nrouter=%s\n' "$ip" "$mask" "$router" > "$NETLOOM_LEASE.new" && mv "$NETLOOM_LEASE.new" "$NETLOOM_LEASE";;
esac
exit 0
"#;

/// The pid of the udhcpc a pidfile names, when it runs (a stale pidfile
/// may name another process by now).
pub fn udhcpc_pid(pidfile: &Path) -> Option<i32> {
    let pid = alive_pid(pidfile)?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmd.split(|&b| b == 0)
        .take(2)
        .any(|a| a == b"udhcpc")
        .then_some(pid)
}

/// Stop the udhcpc of a pidfile, if it runs; the pidfile goes either way.
pub fn stop_udhcpc(pidfile: &Path) {
    if udhcpc_pid(pidfile).is_some() {
        stop(pidfile, "busybox", Duration::from_secs(2));
    }
    let _ = std::fs::remove_file(pidfile);
}

/// Run `argv` (a [`netloom_core::plan::background_dhcp_client`]) inside `ns`
/// until it has gone to the background, its lease file being `lease`.
pub fn start_background_dhcp(ns: &str, argv: &[String], lease: &Path) -> Result<(), ProcError> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env("NETLOOM_LEASE", lease);
    run_command(ns, cmd, &argv.join(" "), None).map(|_| ())
}

/// A DHCP lease as udhcpc reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub ip: ipnet::Ipv4Net,
    pub router: Option<std::net::Ipv4Addr>,
    pub order: usize,
}

/// Parse a lease file written by [`UDHCPC_SCRIPT`] (plus `order=` that netloom appends).
pub fn read_lease(path: &Path) -> Option<Lease> {
    let text = std::fs::read_to_string(path).ok()?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
    };
    let ip: std::net::Ipv4Addr = get("ip")?.parse().ok()?;
    let mask: u8 = get("mask")?.parse().ok()?;
    Some(Lease {
        ip: ipnet::Ipv4Net::new(ip, mask).ok()?,
        router: get("router").and_then(|r| r.split_whitespace().next()?.parse().ok()),
        order: get("order").and_then(|o| o.parse().ok()).unwrap_or(0),
    })
}

/// `udhcpc -i DEV -n -q -f -t 6 -T 1 -s SCRIPT` inside `ns`: one lease, written to `lease`.
/// Done as soon as the lease is written: udhcpc's own exit (closing its
/// packet sockets waits for the kernel, about 15 ms) happens in the background.
pub fn dhcp_request(ns: &str, dev: &str, script: &str, lease: &Path) -> Result<(), ProcError> {
    let what = format!("udhcpc -i {dev} in {ns}");
    let mut cmd = Command::new("busybox");
    cmd.args([
        "udhcpc", "-i", dev, "-n", "-q", "-f", "-t", "6", "-T", "1", "-s", script,
    ])
    .env("NETLOOM_LEASE", lease)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = netns::command_in(ns, cmd)
        .map_err(io_err(&what))?
        .spawn()
        .map_err(io_err(&what))?;
    loop {
        if lease.exists() {
            std::thread::spawn(move || child.wait_with_output());
            return Ok(());
        }
        if child.try_wait().map_err(io_err(&what))?.is_some() {
            let out = child.wait_with_output().map_err(io_err(&what))?;
            if out.status.success() && lease.exists() {
                return Ok(());
            }
            return Err(ProcError::Failed {
                what,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Run a command inside `ns` until a line of its output satisfies `done`
/// (true), or it ends (false); it finishes in the background.
pub fn run_until(ns: &str, argv: &[&str], done: impl Fn(&str) -> bool) -> bool {
    use std::io::BufRead;
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let Ok(mut child) = netns::command_in(ns, cmd).and_then(|mut c| c.spawn()) else {
        return false;
    };
    let found = child.stdout.take().is_some_and(|out| {
        std::io::BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| done(&l))
    });
    std::thread::spawn(move || child.wait());
    found
}

/// True when a sandbox agent (or any server) answers on its unix socket.
pub fn alive(socket: &str) -> bool {
    Path::new(socket).exists() && UnixStream::connect(socket).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("netloom-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A daemon killed that nobody reaps yet is not alive: its pidfile's
    /// process is a zombie, which holds nothing and does no work.
    #[test]
    fn a_zombie_is_not_alive() {
        let dir = scratch("zombie");
        let pidfile = dir.join("daemon.pid");
        let mut daemon = Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::write(&pidfile, daemon.id().to_string()).unwrap();
        assert_eq!(alive_pid(&pidfile), Some(daemon.id() as i32));
        // SAFETY: a child of this test, not yet waited for.
        unsafe { libc::kill(daemon.id() as i32, libc::SIGKILL) };
        let stat = format!("/proc/{}/stat", daemon.id());
        while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(alive_pid(&pidfile), None);
        daemon.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A pidfile whose pid is now another program's is left alone (a daemon
    /// that died without removing it may see its pid reused); the program
    /// it was written for is stopped.
    #[test]
    fn stop_signals_only_the_program_the_pidfile_is_for() {
        let dir = scratch("stop");
        let mut sleep = Command::new("sleep").arg("30").spawn().unwrap();
        let pidfile = dir.join("ovsdb.pid");
        std::fs::write(&pidfile, sleep.id().to_string()).unwrap();
        stop(&pidfile, "ovsdb-server", Duration::from_secs(1));
        assert!(
            sleep.try_wait().unwrap().is_none(),
            "a sleep is no ovsdb-server"
        );
        assert!(!pidfile.exists());
        std::fs::write(&pidfile, sleep.id().to_string()).unwrap();
        stop(&pidfile, "sleep", Duration::from_secs(1));
        assert_eq!(sleep.wait().unwrap().signal(), Some(libc::SIGTERM));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Before a topology's directory goes, a daemon still running from a
    /// pidfile in it stops, at any depth; another program's pid does not.
    #[test]
    fn a_daemon_left_under_a_topologys_directory_is_stopped() {
        let dir = scratch("leftover");
        std::fs::create_dir_all(dir.join("_ovn")).unwrap();
        let mut daemon = Command::new("busybox")
            .args(["sleep", "30"])
            .spawn()
            .unwrap();
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::write(dir.join("_ovn/nb.pid"), daemon.id().to_string()).unwrap();
        std::fs::write(dir.join("reused.pid"), other.id().to_string()).unwrap();
        stop_all_under(&dir);
        assert_eq!(daemon.wait().unwrap().signal(), Some(libc::SIGTERM));
        assert!(
            other.try_wait().unwrap().is_none(),
            "not a program netloom starts"
        );
        let _ = other.kill();
        let _ = other.wait();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The file is what OVS itself reads back: `ovsdb-tool` checks the
    /// record's length and SHA-1 and parses the schema.
    #[test]
    fn new_database_is_read_by_ovsdb_tool() {
        let schema = std::fs::read_to_string(SCHEMA).expect("openvswitch-switch is installed");
        let dir = std::env::temp_dir().join(format!("netloom-newdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("conf.db");
        std::fs::write(&db, new_database(&schema).unwrap()).unwrap();
        let out = |args: &[&str]| {
            let o = Command::new("ovsdb-tool").args(args).output().unwrap();
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).trim().to_string(),
            )
        };
        let db = db.to_str().unwrap();
        let name = out(&["db-name", db]);
        let version = out(&["db-version", db]);
        let want = out(&["schema-version", SCHEMA]);
        let mut bad = new_database(&schema).unwrap();
        let last = bad.len() - 3;
        bad[last] ^= 1;
        std::fs::write(dir.join("bad.db"), bad).unwrap();
        let corrupt = out(&["db-name", dir.join("bad.db").to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(name, (true, "Open_vSwitch".to_string()));
        assert_eq!(version, want);
        assert!(!corrupt.0, "a flipped byte must fail the checksum");
    }

    /// A pidfile may outlive its udhcpc (killed, its namespace gone) and name
    /// another process by now: this test's own.
    #[test]
    fn a_pidfile_naming_another_process_is_not_a_dhcp_client_and_is_not_stopped() {
        let pidfile =
            std::env::temp_dir().join(format!("netloom-udhcpc-{}.pid", std::process::id()));
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(alive_pid(&pidfile), Some(std::process::id() as i32));
        assert_eq!(udhcpc_pid(&pidfile), None);
        // Trusting the file would SIGTERM this test.
        stop_udhcpc(&pidfile);
        assert!(!pidfile.exists());
    }

    #[test]
    fn new_database_refuses_a_broken_schema() {
        assert!(new_database("{\"name\": ").is_err());
    }
}
