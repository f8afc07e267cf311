//! `netloom serve` answers only to the names it is known by: IP addresses,
//! `localhost` and `--allowed-host` names; any other Host (a DNS-rebinding
//! page) gets 421 with an ErrorBody. Loopback only.

use std::io::{Read, Write};
use std::net::TcpStream;

mod support;

use support::{scratch, Server};

fn start() -> Server {
    let dir = scratch("host");
    Server::start(dir.clone(), &dir, &["--allowed-host", "netloom.test"])
}

fn get(s: &Server, host: &str) -> String {
    let mut c = TcpStream::connect(&s.addr).unwrap();
    write!(
        c,
        "GET /api/health HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s.token
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn only_known_host_names_are_answered() {
    let s = start();
    let port = s.addr.rsplit(':').next().unwrap().to_string();
    for host in [
        s.addr.clone(),
        format!("localhost:{port}"),
        format!("NetLoom.test:{port}"),
        "[::1]".into(),
    ] {
        let a = get(&s, &host);
        assert!(a.starts_with("HTTP/1.1 200"), "{host}: {a}");
    }
    for host in [format!("evil.example:{port}"), "evil.example".into()] {
        let a = get(&s, &host);
        assert!(a.starts_with("HTTP/1.1 421"), "{host}: {a}");
        assert!(
            a.contains("content-security-policy: default-src 'none';")
                && a.contains("x-content-type-options: nosniff")
                && a.contains("cache-control: no-store"),
            "{host}: {a}"
        );
        assert!(
            a.contains("\"error\"") && a.contains("--allowed-host"),
            "{host}: {a}"
        );
    }
}
