//! Root test: `GET /api/designs/{id}/capture` on a real `netloom serve`
//! streams pcap from one link of the applied design while traffic flows;
//! another origin, a bad link and a design that is not applied are refused.

mod apply_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apply_support::*;
use netloom_core::trace::{IcmpKind, Layer};
use serde_json::{json, Value};

/// `netloom serve` on a free loopback port; killed and its data removed on drop.
struct Serve {
    child: Child,
    addr: String,
    token: String,
    data: std::path::PathBuf,
}

impl Serve {
    fn start() -> Serve {
        // One data directory per server: the tests run side by side in one process.
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, Ordering::SeqCst);
        let data =
            std::env::temp_dir().join(format!("netloom-capture-api-{}-{n}", std::process::id()));
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netloom serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // http://127.0.0.1:PORT/login?token=TOKEN
        let rest = line.trim().strip_prefix("http://").expect("a login URL");
        let (addr, query) = rest.split_once("/login?token=").expect("a login URL");
        Serve {
            addr: addr.to_string(),
            token: query.to_string(),
            child,
            data,
        }
    }

    /// Sends a request and reads the status line and headers: (status, the open stream).
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        origin: Option<&str>,
    ) -> (u16, Body) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n{origin}\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.token,
            body.len()
        )
        .unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        let code = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status");
        let mut length = None;
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 2 {
            if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = n.trim().parse().ok();
            }
            line.clear();
        }
        (code, Body { r, length })
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        origin: Option<&str>,
    ) -> (u16, Vec<u8>) {
        let (code, b) = self.send(method, path, body, origin);
        (code, b.all())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// An answer's body, still to be read.
struct Body {
    r: BufReader<TcpStream>,
    length: Option<usize>,
}

impl Body {
    /// To its end: as long as Content-Length says, or chunk by chunk.
    fn all(mut self) -> Vec<u8> {
        match self.length {
            Some(n) => {
                let mut buf = vec![0; n];
                self.r.read_exact(&mut buf).unwrap();
                buf
            }
            None => dechunk(self.r),
        }
    }
}

fn dechunk(mut r: BufReader<TcpStream>) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        let mut buf = vec![0; n + 2];
        r.read_exact(&mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).map_or_else(
        |_| String::from_utf8_lossy(body).into_owned(),
        |v| v["error"]["message"].to_string(),
    )
}

#[test]
fn a_live_capture_streams_pcap_and_refuses_what_it_must() {
    if !netloom_e2e::root("a_live_capture_streams_pcap_and_refuses_what_it_must") {
        return;
    }
    let lab = Lab::new("seedlab-gre.yaml", "e2e-capapi");
    ok(&["apply", lab.path()]);
    let server = Serve::start();
    let store = |name: &str, text: &str| {
        let (code, body) = server.call(
            "POST",
            "/api/designs",
            Some(&json!({"name": name, "text": text})),
            None,
        );
        assert_eq!(code, 201, "{}", message(&body));
        serde_json::from_slice::<Value>(&body).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let id = store("applied", &lab.text);
    let capture = format!("/api/designs/{id}/capture?link=vm1&count=4&seconds=30");

    // Another site's page cannot start one; a bad link or an unapplied design is refused.
    let (code, _) = server.call("GET", &capture, None, Some("http://attacker.test"));
    assert_eq!(code, 403);
    let (code, body) = server.call(
        "GET",
        &format!("/api/designs/{id}/capture?link=vm9"),
        None,
        None,
    );
    assert_eq!(code, 400, "{}", message(&body));
    let other = store(
        "not applied",
        &lab.text.replace("name: e2e-capapi", "name: e2e-capnot"),
    );
    let (code, body) = server.call(
        "GET",
        &format!("/api/designs/{other}/capture?link=vm1"),
        None,
        None,
    );
    assert_eq!(
        (code, message(&body).contains("not applied")),
        (409, true),
        "{}",
        message(&body)
    );

    // The headers come once the socket is open: traffic from then on is in the stream.
    let (code, stream) = server.send("GET", &capture, None, None);
    assert_eq!(code, 200);
    let ns = format!("nl-{}.node1.vm1", lab.name);
    let st = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "ping",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "5",
            "10.0.10.2",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let file = stream.all();
    let frames = vm1_frames(&lab, &file);
    assert!(frames.iter().flatten().any(|l| matches!(
        l,
        Layer::Icmp {
            kind: IcmpKind::EchoRequest,
            ..
        }
    )));
}

#[test]
fn a_server_stopped_by_sigterm_removes_the_mirror_of_its_running_capture() {
    if !netloom_e2e::root("a_server_stopped_by_sigterm_removes_the_mirror_of_its_running_capture") {
        return;
    }
    let lab = Lab::new("seedlab-gre.yaml", "e2e-capterm");
    ok(&["apply", lab.path()]);
    let mut server = Serve::start();
    let (code, body) = server.call(
        "POST",
        "/api/designs",
        Some(&json!({"name": "t", "text": lab.text})),
        None,
    );
    assert_eq!(code, 201, "{}", message(&body));
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let host_ns = format!("nl-{}.node1", lab.name);
    let links = || {
        let o = Command::new("ip")
            .args(["-n", &host_ns, "-o", "link"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // The answer's headers come once the mirror and its veth are made.
    let (code, _stream) = server.send(
        "GET",
        &format!("/api/designs/{id}/capture?link=node1/br-in&seconds=600"),
        None,
        None,
    );
    assert_eq!(code, 200);
    let peer = mirror_peer(&lab.text, "node1/br-in");
    assert!(links().contains(&peer), "{}", links());
    let st = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "serve ended with {status}");
    assert!(!links().contains(&peer[..peer.len() - 1]), "{}", links());
    assert!(ok(&["plan", lab.path()]).contains("nothing to do"));
}
