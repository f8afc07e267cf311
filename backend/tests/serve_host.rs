//! `netloom serve` answers only to the names it is known by: IP addresses,
//! `localhost` and `--allowed-host` names; any other Host (a DNS-rebinding
//! page) gets 421 with an ErrorBody. Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

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
    let dir = std::env::temp_dir().join(format!("netloom-host-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allowed-host",
            "netloom.test",
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
            a.contains("\"error\"") && a.contains("--allowed-host"),
            "{host}: {a}"
        );
    }
}
