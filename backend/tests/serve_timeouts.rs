//! `netloom serve --client-timeout`: a client that stops in the middle of its
//! request headers, or of its body, loses the connection instead of holding
//! it forever; the server keeps serving others. Loopback only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod support;

use support::{scratch, Server};

fn start() -> Server {
    let dir = scratch("timeouts");
    Server::start(dir.clone(), &dir, &["--client-timeout", "1"])
}

/// Send `head` and wait (far longer than the server's timeout) for the server to end the exchange.
fn stall(s: &Server, head: &str) -> String {
    let mut c = TcpStream::connect(&s.addr).unwrap();
    // Only a server that never gives up makes this read time out (and the test fail).
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got)
        .expect("the server should close the stalled connection");
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn stalled_clients_are_cut_off_and_others_served() {
    let s = start();
    let auth = format!("Authorization: Bearer {}", s.token);

    let got = stall(
        &s,
        &format!("GET /api/health HTTP/1.1\r\nHost: {}\r\n{auth}\r\n", s.addr),
    );
    assert!(!got.contains(" 200 "), "{got}");

    let got = stall(
        &s,
        &format!(
            "POST /api/validate HTTP/1.1\r\nHost: {a}\r\nOrigin: http://{a}\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"text\": ",
            a = s.addr
        ),
    );
    assert!(got.starts_with("HTTP/1.1 4"), "{got}");
    assert!(got.contains("\"error\""), "{got}");

    let ok = stall(
        &s,
        &format!(
            "GET /api/health HTTP/1.1\r\nHost: {}\r\n{auth}\r\nConnection: close\r\n\r\n",
            s.addr
        ),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}
