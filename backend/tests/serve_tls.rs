//! `netloom serve --tls-cert --tls-key`: HTTPS with a self-signed certificate
//! made here, spoken to by a rustls client that trusts exactly that
//! certificate. Login and the bearer token work over TLS; plain HTTP on the
//! same port gets no HTTP answer. Loopback only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

mod support;

use support::Server;

/// A self-signed certificate for 127.0.0.1 (not a CA), written with its key into `dir`.
fn certificate(dir: &std::path::Path) -> CertificateDer<'static> {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), c.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), c.signing_key.serialize_pem()).unwrap();
    c.cert.der().clone()
}

fn start(dir: PathBuf) -> Server {
    let (data, cert, key) = (dir.join("data"), dir.join("cert.pem"), dir.join("key.pem"));
    let tls = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    Server::start(dir.clone(), &data, &tls)
}

/// One HTTPS request (Connection: close); the whole answer as text.
fn https(server: &Server, trust: &CertificateDer<'static>, request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(cfg), ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(&server.addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    // A peer closing without close_notify still leaves the whole answer read.
    let _ = tls.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn https_login_and_bearer_work_and_plain_http_does_not() {
    let dir = std::env::temp_dir().join(format!("netloom-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cert = certificate(&dir);
    let s = start(dir);
    let host = &s.addr;

    let login = https(
        &s,
        &cert,
        &format!(
            "GET /login?token={} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
            s.token
        ),
    );
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    // Over TLS the session cookie is Secure.
    let cookie = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {login}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
    let session = cookie.split(';').next().unwrap();

    let with_cookie = https(
        &s,
        &cert,
        &format!("GET /api/designs HTTP/1.1\r\nHost: {host}\r\nCookie: {session}\r\nConnection: close\r\n\r\n"),
    );
    assert!(with_cookie.starts_with("HTTP/1.1 200"), "{with_cookie}");

    // A write with the bearer token and the https origin.
    let body = r#"{"text": "version: 1\nname: Bad\n"}"#;
    let validate = https(
        &s,
        &cert,
        &format!(
            "POST /api/validate HTTP/1.1\r\nHost: {host}\r\nOrigin: https://{host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.token,
            body.len()
        ),
    );
    assert!(validate.starts_with("HTTP/1.1 200"), "{validate}");
    assert!(validate.contains("\"problems\""), "{validate}");

    let no_token = https(
        &s,
        &cert,
        &format!("GET /api/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    assert!(no_token.starts_with("HTTP/1.1 401"), "{no_token}");

    // Plain HTTP on the TLS port: the handshake fails and no HTTP answer comes back.
    let mut plain = TcpStream::connect(&s.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may hang up as soon as it sees the first bytes are not TLS,
    // so a write can fail: what matters is that no HTTP answer comes back.
    let request = format!(
        "GET /api/health HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s.token
    );
    let _ = plain.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "{answer:?}"
    );
}

#[test]
fn a_network_listen_needs_tls_or_insecure() {
    let dir = std::env::temp_dir().join(format!("netloom-tls-net-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "0123456789abcdef0123").unwrap();
    // Port 1 is never bound: the checks come first, so nothing listens.
    let o = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(["serve", "--listen", "0.0.0.0:1", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--token-file")
        .arg(&token)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs TLS (--tls-cert and --tls-key)"),
        "{o:?}"
    );
}
