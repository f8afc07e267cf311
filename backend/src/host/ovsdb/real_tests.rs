//! [`Ovsdb::connect_remote`] against real `ovsdb-server`s holding the OVN
//! northbound schema, on loopback only, with certificates made by `ovs-pki`:
//! switchca signs the good certificates; controllerca, a CA of the same PKI
//! that no one trusts, signs the bad ones.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

/// True when the OVS tools are installed; otherwise says why the test is skipped.
fn tools(test: &str) -> bool {
    let found = [
        "ovs-pki",
        "ovsdb-tool",
        "ovsdb-server",
        "ovn-nbctl",
        "openssl",
    ]
    .iter()
    .all(|t| Command::new(t).arg("--version").output().is_ok());
    if !found {
        eprintln!("SKIPPED {test}: needs ovs-pki, ovsdb-tool, ovsdb-server, ovn-nbctl and openssl");
    }
    found
}

fn run(dir: &Path, argv: &[&str]) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("netloom-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }

    /// The files of certificate `name`, trusting switchca.
    fn tls(&self, name: &str) -> Tls {
        Tls {
            private_key: self.path(&format!("{name}-privkey.pem")),
            certificate: self.path(&format!("{name}-cert.pem")),
            ca_certificate: self.path("pki/switchca/cacert.pem"),
        }
    }
}

/// A port free on loopback when asked (another process could take it before
/// the server does: rare enough for a test).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// An `ovsdb-server` of the northbound schema, killed when dropped, even
/// when the test fails; `ssl` and `tcp`: its remotes.
struct Server {
    child: Child,
    ssl: String,
    tcp: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Serve database `db` (made in `dir`) on loopback, over TLS with the
    /// key and certificate `cert` (trusting switchca) and over TCP.
    /// `protocols`: what `--ssl-protocols` enables (OVS 3's default: TLS 1.2 and 1.3).
    fn start(dir: &TempDir, db: &str, cert: &str, protocols: &str) -> Server {
        let file = dir.path(&format!("{db}.db"));
        let schema = "/usr/share/ovn/ovn-nb.ovsschema";
        run(&dir.0, &["ovsdb-tool", "create", &file, schema]);
        let tls = dir.tls(cert);
        let (ssl, tcp) = (free_port(), free_port());
        let child = Command::new("ovsdb-server")
            .arg(&file)
            .arg(format!("--unixctl={}", dir.path(&format!("{db}.ctl"))))
            .arg(format!("--private-key={}", tls.private_key))
            .arg(format!("--certificate={}", tls.certificate))
            .arg(format!("--ca-cert={}", tls.ca_certificate))
            .arg(format!("--ssl-protocols={protocols}"))
            .arg(format!("--remote=pssl:{ssl}:127.0.0.1"))
            .arg(format!("--remote=ptcp:{tcp}:127.0.0.1"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovsdb-server");
        let server = Server {
            child,
            ssl: format!("ssl:127.0.0.1:{ssl}"),
            tcp: format!("tcp:127.0.0.1:{tcp}"),
        };
        let start = Instant::now();
        for port in [ssl, tcp] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "ovsdb-server {db} did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        server
    }
}

fn switches(db: &mut Ovsdb) -> Vec<String> {
    let r = db
        .transact_on(
            "OVN_Northbound",
            vec![json!({"op": "select", "table": "Logical_Switch", "where": [], "columns": ["name"]})],
        )
        .unwrap();
    let mut names: Vec<String> = r[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn insert_switch(db: &mut Ovsdb, name: &str) {
    db.transact_on(
        "OVN_Northbound",
        vec![json!({"op": "insert", "table": "Logical_Switch", "row": {"name": name}})],
    )
    .unwrap();
}

/// A remote as the tests write it.
fn net(remote: &str) -> netloom_core::ovn::Remote {
    netloom_core::ovn::Remote::parse(remote).unwrap()
}

fn refusal(remote: &str, tls: Option<&Tls>) -> String {
    match Ovsdb::connect_remote(&net(remote), tls) {
        Ok(_) => panic!("{remote} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// A PKI in a new directory named after `test`, when the tools are
/// installed: `central` and `netloom` signed by switchca, `rogue` by
/// controllerca.
fn lab(test: &str) -> Option<TempDir> {
    if !tools(test) {
        return None;
    }
    let dir = TempDir::new(test);
    let pki = format!("--dir={}/pki", dir.0.display());
    run(&dir.0, &["ovs-pki", &pki, "init"]);
    for (name, ca) in [
        ("central", "switch"),
        ("netloom", "switch"),
        ("rogue", "controller"),
    ] {
        run(&dir.0, &["ovs-pki", &pki, "req+sign", name, ca]);
    }
    Some(dir)
}

#[test]
fn ssl_and_tcp_remotes_transact_and_a_foreign_ca_is_refused_both_ways() {
    let Some(dir) = lab("ssl_and_tcp_remotes_transact_and_a_foreign_ca_is_refused_both_ways")
    else {
        return;
    };
    let central = Server::start(&dir, "nb", "central", "TLSv1.2,TLSv1.3");

    // Over TLS, with switchca's certificate (no name in it is checked).
    let mut db = Ovsdb::connect_remote(&net(&central.ssl), Some(&dir.tls("netloom"))).unwrap();
    insert_switch(&mut db, "e2e-over-ssl");
    assert_eq!(switches(&mut db), ["e2e-over-ssl"]);

    // Over plain TCP, the same database: another client sees the first's row.
    let mut plain = Ovsdb::connect_remote(&net(&central.tcp), None).unwrap();
    insert_switch(&mut plain, "e2e-over-tcp");
    assert_eq!(switches(&mut plain), ["e2e-over-ssl", "e2e-over-tcp"]);
    // And so does OVN's own client, over TCP.
    let ls = Command::new("ovn-nbctl")
        .args([format!("--db={}", central.tcp), "ls-list".into()])
        .output()
        .unwrap();
    let ls = String::from_utf8_lossy(&ls.stdout);
    assert!(
        ls.contains("(e2e-over-ssl)") && ls.contains("(e2e-over-tcp)"),
        "{ls}"
    );

    refused_in_the_wrong_protocol_or_by_a_foreign_ca(&dir, &central);
    // The refusals left the first connection working.
    assert_eq!(switches(&mut db).len(), 2);
}

fn refused_in_the_wrong_protocol_or_by_a_foreign_ca(dir: &TempDir, central: &Server) {
    // Each remote spoken to in the other's protocol.
    let ssl_port = central.ssl.rsplit(':').next().unwrap();
    let tcp_port = central.tcp.rsplit(':').next().unwrap();
    for (remote, tls, hint) in [
        (
            format!("tcp:127.0.0.1:{ssl_port}"),
            None,
            "is it an ssl: remote?",
        ),
        (
            format!("ssl:127.0.0.1:{tcp_port}"),
            Some(dir.tls("netloom")),
            "is it a tcp: remote?",
        ),
    ] {
        let e = refusal(&remote, tls.as_ref());
        assert!(
            e.starts_with(&format!("OVSDB {remote}: the server closed the connection"))
                && e.contains(hint),
            "{e}"
        );
    }

    // Our certificate signed by another CA: the server refuses it (TLS 1.3:
    // after our side of the handshake, found by the first exchange).
    let rogue = dir.tls("rogue");
    let e = refusal(&central.ssl, Some(&rogue));
    assert!(
        e.starts_with(&format!(
            "OVSDB {}: the server refused our certificate {}",
            central.ssl, rogue.certificate
        )),
        "{e}"
    );
}

#[test]
fn a_server_certificate_of_another_ca_or_x509_v1_is_refused() {
    let Some(dir) = lab("a_server_certificate_of_another_ca_or_x509_v1_is_refused") else {
        return;
    };
    let tls = dir.tls("netloom");
    let rogue = Server::start(&dir, "rogue", "rogue", "TLSv1.2,TLSv1.3");
    assert_eq!(
        refusal(&rogue.ssl, Some(&tls)),
        format!(
            "OVSDB {}: the server's certificate is not signed by the CA in {}",
            rogue.ssl, tls.ca_certificate
        )
    );
    drop(rogue);

    // Signed by the right CA, but X.509 v1 (no extensions), which webpki refuses.
    let req = [
        "openssl",
        "req",
        "-new",
        "-key",
        "rogue-privkey.pem",
        "-subj",
        "/O=Open vSwitch/CN=v1",
        "-out",
        "v1-req.pem",
    ];
    run(&dir.0, &req);
    let v1 = dir.path("old-cert.pem");
    let signed = ["-batch", "-in", "../../v1-req.pem", "-out", &v1];
    let sign = [["openssl", "ca", "-config", "ca.cnf"].as_slice(), &signed].concat();
    run(&dir.0.join("pki/switchca"), &sign);
    std::fs::copy(dir.path("rogue-privkey.pem"), dir.path("old-privkey.pem")).unwrap();
    let old = Server::start(&dir, "old", "old", "TLSv1.2,TLSv1.3");
    let e = refusal(&old.ssl, Some(&tls));
    assert!(
        e.starts_with(&format!(
            "OVSDB {}: the server's certificate is X.509 v1",
            old.ssl
        )),
        "{e}"
    );
}

/// Over TLS 1.2 only, as older OVS servers speak it.
#[test]
fn tls12_keys_pkcs1_pkcs8_missing_or_refused() {
    let Some(dir) = lab("tls12_keys_pkcs1_pkcs8_missing_or_refused") else {
        return;
    };
    let central = Server::start(&dir, "nb", "central", "TLSv1.2");
    let remote = &central.ssl;
    let tls = dir.tls("netloom");
    // The same key as PKCS#1 (`BEGIN RSA PRIVATE KEY`, older ovs-pki).
    let pkcs1 = dir.path("netloom-pkcs1.pem");
    let convert = [
        "openssl",
        "pkey",
        "-traditional",
        "-in",
        &tls.private_key,
        "-out",
        &pkcs1,
    ];
    run(&dir.0, &convert);
    let text = std::fs::read_to_string(&pkcs1).unwrap();
    assert!(
        text.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{text}"
    );
    for key in [&tls.private_key, &pkcs1] {
        let files = Tls {
            private_key: key.clone(),
            ..tls.clone()
        };
        let mut db = Ovsdb::connect_remote(&net(remote), Some(&files)).unwrap();
        assert!(switches(&mut db).is_empty());
    }
    // A key file holding a certificate, no key.
    let nokey = Tls {
        private_key: tls.certificate.clone(),
        ..tls.clone()
    };
    assert_eq!(
        refusal(remote, Some(&nokey)),
        format!("OVSDB {remote}: private key: no key in {}", tls.certificate)
    );
    // Our certificate signed by another CA: refused within the handshake.
    let e = refusal(remote, Some(&dir.tls("rogue")));
    assert!(
        e.starts_with(&format!(
            "OVSDB {remote}: the server refused our certificate {}",
            dir.path("rogue-cert.pem")
        )),
        "{e}"
    );
    // An ssl: remote without files.
    assert_eq!(
        refusal(remote, None),
        format!("OVSDB {remote}: an ssl: remote needs a private key, certificate and CA")
    );
}
