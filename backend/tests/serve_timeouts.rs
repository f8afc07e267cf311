//! `netloom serve --client-timeout`: a client that stops in the middle of its
//! request headers, or of its body, loses the connection instead of holding
//! it forever; the server keeps serving others. Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    addr: String,
    token: String,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> Server {
    let dir = std::env::temp_dir().join(format!("netloom-timeouts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--client-timeout",
            "1",
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start netloom serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let rest = line.trim().strip_prefix("http://").expect(&line);
    let (addr, token) = rest.split_once("/login?token=").expect(&line);
    Server {
        child,
        addr: addr.to_string(),
        token: token.to_string(),
        dir,
    }
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
