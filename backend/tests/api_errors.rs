//! The API as a stranger or a careless client meets it: the real `netloom
//! serve` binary on a loopback port with its own data directory, spoken to in
//! raw HTTP/1.1 (so malformed requests can be sent as they are). Every refusal
//! is a 4xx with an `ErrorBody`, nothing is a 500, and the server stays up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use netloom_core::ErrorBody;
use serde_json::{json, Value};

const LAB: &str = "version: 1\nname: lab\nhosts:\n  - name: node1\n    bridges: [{name: br0}]\n";

mod support;

#[path = "../../shared/tests/support/mod.rs"]
mod labs;

use support::{scratch, Server};

impl Server {
    fn start_named(name: &str) -> Server {
        Self::start_in(scratch(&format!("api-{name}")))
    }

    fn start_in(dir: PathBuf) -> Server {
        Server::start(dir.clone(), &dir, &[])
    }

    /// Stop without a chance to clean up (as a crash or power loss would), keep the data.
    fn kill(mut self) -> PathBuf {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::take(&mut self.dir)
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// A request as the app in a browser makes it: token cookie, own Origin, JSON.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let cookie = format!("netloom_token={}", self.token);
        let origin = self.origin();
        let mut headers = vec![("Cookie", cookie.as_str()), ("Origin", origin.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, &headers, body.as_bytes())
    }

    /// One request on a fresh connection; `headers` as given (Host added, and
    /// Content-Length unless the headers frame the body themselves).
    fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        let framed = |k: &str| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        };
        if !headers.iter().any(|(k, _)| framed(k)) {
            head += &format!("Content-Length: {}\r\n", body.len());
        }
        for (k, v) in headers {
            head += &format!("{k}: {v}\r\n");
        }
        head += "\r\n";
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (413) and close before it has read everything.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Reply::parse(&raw)
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status and an `ErrorBody`; returns it.
    fn error(&self, status: u16, what: &str) -> ErrorBody {
        assert_eq!(
            self.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{what}: {:?}",
            self.headers
        );
        let e: ErrorBody = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{what}: not an ErrorBody ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        });
        assert!(!e.error.message.is_empty(), "{what}: empty message");
        e
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

fn create(s: &Server, name: &str) -> (i64, i64) {
    let r = s.call(
        "POST",
        "/api/designs",
        Some(json!({"name": name, "text": LAB})),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json();
    (d["id"].as_i64().unwrap(), d["revision"].as_i64().unwrap())
}

#[test]
fn strangers_get_401_and_nothing_else() {
    let s = Server::start_named("auth");
    let wrong = format!("Bearer {}", "0".repeat(s.token.len()));
    let bad_cookie = "netloom_token=nope";
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, &str, Headers); 8] = [
        ("GET", "/api/designs", vec![]),
        ("GET", "/api/health", vec![]),
        (
            "POST",
            "/api/validate",
            vec![("Content-Type", "application/json")],
        ),
        ("GET", "/api/designs", vec![("Authorization", &wrong)]),
        ("GET", "/api/designs", vec![("Authorization", "Bearer ")]),
        (
            "GET",
            "/api/designs",
            vec![("Authorization", "Basic dXNlcjpwYXNz")],
        ),
        ("GET", "/api/designs", vec![("Cookie", bad_cookie)]),
        // The token is not taken from an API URL (URLs end up in logs and history).
        ("GET", &format!("/api/designs?token={}", s.token), vec![]),
    ];
    for (m, path, headers) in &cases {
        let r = s.raw(m, path, headers, br#"{"text":"version: 1"}"#);
        r.error(401, &format!("{m} {path} {headers:?}"));
    }
    let r = s.raw("GET", "/login?token=nope", &[], b"");
    r.error(401, "login with a wrong token");
    assert!(r.header("set-cookie").is_none());

    // The login link sets the cookie that then opens the API.
    let r = s.raw("GET", &format!("/login?token={}", s.token), &[], b"");
    assert_eq!(r.status, 303);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = s.raw("GET", "/api/designs", &[("Cookie", &cookie)], b"");
    assert_eq!((r.status, r.json()), (200, json!([])));
    let bearer = s.bearer();
    let r = s.raw("GET", "/api/health", &[("Authorization", &bearer)], b"");
    assert_eq!(r.status, 200);
}

#[test]
fn other_origins_cannot_change_anything() {
    let s = Server::start_named("origin");
    let (id, rev) = create(&s, "mine");
    let bearer = s.bearer();
    let design = format!("/api/designs/{id}");
    let save = json!({"revision": rev, "text": "version: 1\nname: evil\n"}).to_string();
    for origin in [
        "http://evil.example",
        "null",
        "https://127.0.0.1",
        &format!("http://{}.evil.example", s.addr),
    ] {
        for (m, path, body) in [
            (
                "POST",
                "/api/validate",
                r#"{"text":"version: 1"}"#.to_string(),
            ),
            (
                "POST",
                "/api/designs",
                json!({"name": "x", "text": LAB}).to_string(),
            ),
            ("PUT", design.as_str(), save.clone()),
            ("DELETE", design.as_str(), String::new()),
        ] {
            let headers = [
                ("Authorization", bearer.as_str()),
                ("Origin", origin),
                ("Content-Type", "application/json"),
            ];
            s.raw(m, path, &headers, body.as_bytes())
                .error(403, &format!("{m} {path} from {origin}"));
        }
    }
    // Nothing changed, and no answer invites another site to read it.
    let r = s.call("GET", &design, None);
    assert_eq!(
        (r.json()["revision"].as_i64(), r.json()["text"].as_str()),
        (Some(rev), Some(LAB))
    );
    assert_eq!(
        s.call("GET", "/api/designs", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(r.header("access-control-allow-origin").is_none());
}

#[test]
fn bad_requests_are_4xx_error_bodies() {
    let s = Server::start_named("input");
    let (id, _) = create(&s, "lab");
    let cookie = format!("netloom_token={}", s.token);
    let origin = s.origin();
    let send = |m: &str, path: &str, ctype: &str, body: &[u8]| {
        s.raw(
            m,
            path,
            &[
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Content-Type", ctype),
            ],
            body,
        )
    };
    let json_ = "application/json";
    let deep = format!(
        r#"{{"x": {}{}, "text": ""}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_yaml = json!({"text": format!("version: 1\nname: {}x{}\n", "[".repeat(50_000), "]".repeat(50_000))}).to_string();
    let design = format!("/api/designs/{id}");
    let cases: Vec<(&str, &str, &str, Vec<u8>, u16)> = vec![
        ("POST", "/api/validate", json_, b"{".to_vec(), 400),
        ("POST", "/api/validate", json_, b"".to_vec(), 400),
        ("POST", "/api/validate", json_, b"\xff\xfe{}".to_vec(), 400),
        (
            "POST",
            "/api/validate",
            "text/plain",
            br#"{"text":"version: 1"}"#.to_vec(),
            415,
        ),
        (
            "POST",
            "/api/validate",
            json_,
            br#"{"text": 5}"#.to_vec(),
            422,
        ),
        ("POST", "/api/validate", json_, b"[]".to_vec(), 422),
        ("POST", "/api/validate", json_, b"null".to_vec(), 422),
        (
            "POST",
            "/api/designs",
            json_,
            br#"{"name": "x"}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            br#"{"name": ["x"], "text": ""}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            json!({"name": "x", "text": LAB, "id": 7})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            json!({"name": "", "text": LAB}).to_string().into_bytes(),
            400,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            json!({"name": "a\u{0}b", "text": LAB})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            json!({"name": "n".repeat(101), "text": LAB})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            json!({"name": "x", "text": "version: [1"})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            json!({"name": "x", "text": "version: 1\nname: lab\nbogus: 1\n"})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "POST",
            "/api/designs",
            json_,
            deep_yaml.clone().into_bytes(),
            422,
        ),
        ("PUT", &design, json_, br#"{"revision": "1"}"#.to_vec(), 422),
        ("PUT", &design, json_, br#"{"revision": 1.5}"#.to_vec(), 422),
        (
            "PUT",
            &design,
            json_,
            br#"{"revision": 99999999999999999999999}"#.to_vec(),
            422,
        ),
        (
            "PUT",
            &design,
            json_,
            json!({"revision": 1, "text": "hosts: 3"})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "PUT",
            &design,
            json_,
            json!({"revision": 1, "name": " "}).to_string().into_bytes(),
            400,
        ),
        ("GET", "/api/designs/99999", json_, vec![], 404),
        ("GET", "/api/designs/abc", json_, vec![], 404),
        ("GET", "/api/designs/-1", json_, vec![], 404),
        (
            "GET",
            "/api/designs/99999999999999999999999",
            json_,
            vec![],
            404,
        ),
        ("GET", "/api/designs/%2e%2e", json_, vec![], 404),
        ("GET", "/api/designs/%ff", json_, vec![], 400),
        (
            "PUT",
            "/api/designs/%ff",
            json_,
            br#"{"revision": 1}"#.to_vec(),
            400,
        ),
        ("DELETE", "/api/designs/%c3%28", json_, vec![], 400),
        (
            "PUT",
            "/api/designs/99999",
            json_,
            br#"{"revision": 1}"#.to_vec(),
            404,
        ),
        ("DELETE", "/api/designs/99999", json_, vec![], 404),
        ("GET", "/api/nothing/here", json_, vec![], 404),
        ("DELETE", "/api/validate", json_, vec![], 405),
        ("PATCH", "/api/designs", json_, b"{}".to_vec(), 405),
    ];
    for (m, path, ctype, body, want) in &cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        send(m, path, ctype, body).error(*want, &format!("{m} {path} {ctype} {shown}"));
    }

    // An ignored key nested 100000 deep costs the server nothing: validated as an empty file.
    let r = send("POST", "/api/validate", json_, deep.as_bytes());
    assert_eq!(
        (r.status, r.json()["problems"][0]["path"].as_str()),
        (200, Some(""))
    );
    // A topology that does not parse names where: the path of the first problem.
    let r = send(
        "POST",
        "/api/designs",
        json_,
        json!({"name": "x", "text": "version: 1\nname: lab\nhosts: 3\n"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.error(422, "hosts: 3").error.path, "hosts");
    // Validation reports problems with paths (200: finding them is its purpose).
    let r = send(
        "POST",
        "/api/validate",
        json_,
        json!({"text": "version: 1\nname: Lab\n"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["problems"][0]["path"], "name");
    // Nothing above was stored, and the server is still up.
    let list = s.call("GET", "/api/designs", None).json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(s.call("GET", "/api/health", None).status, 200);
}

#[test]
fn oversized_bodies_are_413() {
    let s = Server::start_named("size");
    let cookie = format!("netloom_token={}", s.token);
    let origin = s.origin();
    // Announced and sent: refused once the limit is reached.
    let big = vec![b' '; 17 << 20];
    let r = s.raw(
        "POST",
        "/api/validate",
        &[
            ("Cookie", &cookie),
            ("Origin", &origin),
            ("Content-Type", "application/json"),
        ],
        &big,
    );
    r.error(413, "17 MB");
    // Sent too large without announcing it (chunked): cut off at the limit.
    let mut body = Vec::new();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..17 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let r = s.raw(
        "POST",
        "/api/designs",
        &[
            ("Cookie", &cookie),
            ("Origin", &origin),
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        &body,
    );
    r.error(413, "17 MB chunked");
    // A topology file over the format's size limit, in a body under the server's.
    let text = format!(
        "version: 1\nname: lab\n#{}\n",
        "x".repeat(netloom_core::limits::MAX_FILE_BYTES)
    );
    let r = s.call(
        "POST",
        "/api/designs",
        Some(json!({"name": "big", "text": text})),
    );
    assert!(r.status == 413 || r.status == 422, "{}", r.status);
    r.error(r.status, "text over MAX_FILE_BYTES");
    assert_eq!(s.call("GET", "/api/designs", None).json(), json!([]));
}

/// An alias bomb (160 KB of YAML that expands to 1.3 million vms) and a text
/// with too many hosts: every endpoint answers 413 naming the limit, at once,
/// the stored design is untouched, and the server stays up.
#[test]
fn texts_over_a_budget_are_413_and_change_nothing() {
    use netloom_core::limits::{MAX_HOSTS, MAX_YAML_NODES};
    let s = Server::start_named("budgets");
    let (id, rev) = create(&s, "lab");
    let design = format!("/api/designs/{id}");
    let hosts: String = (0..=MAX_HOSTS)
        .map(|h| format!("  - name: h{h}\n"))
        .collect();
    let many = format!("version: 1\nname: big\nhosts:\n{hosts}");
    let bomb = labs::alias_bomb();
    for (text, path, limit) in [(&bomb, "", MAX_YAML_NODES), (&many, "hosts", MAX_HOSTS)] {
        for (m, uri, body) in [
            ("POST", "/api/validate", json!({"text": text})),
            (
                "POST",
                "/api/simulate",
                json!({"text": text, "from": "vm1", "to": "vm2"}),
            ),
            ("POST", "/api/reach", json!({"text": text})),
            ("POST", "/api/designs", json!({"name": "x", "text": text})),
            (
                "PUT",
                design.as_str(),
                json!({"revision": rev, "text": text}),
            ),
        ] {
            let e = s.call(m, uri, Some(body)).error(413, &format!("{m} {uri}"));
            assert_eq!(e.error.path, path, "{m} {uri}");
            assert!(
                e.error.message.ends_with(&format!("the limit is {limit}")),
                "{m} {uri}: {}",
                e.error.message
            );
        }
    }
    let kept = s.call("GET", &design, None).json();
    assert_eq!(
        (kept["revision"].as_i64(), kept["text"].as_str()),
        (Some(rev), Some(LAB))
    );
    let list = s.call("GET", "/api/designs", None).json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(s.call("GET", "/api/health", None).status, 200);
}

#[test]
fn stale_saves_conflict_and_nothing_is_lost() {
    let s = Server::start_named("revisions");
    let (id, rev) = create(&s, "lab");
    let path = format!("/api/designs/{id}");
    let mine = "version: 1\nname: mine\n";
    let r = s.call("PUT", &path, Some(json!({"revision": rev, "text": mine})));
    assert_eq!(
        (r.status, r.json()["revision"].as_i64()),
        (200, Some(rev + 1))
    );
    // A second tab still at the old revision.
    let e = s
        .call("PUT", &path, Some(json!({"revision": rev, "text": LAB})))
        .error(409, "stale revision");
    assert_eq!(e.error.path, "revision");
    s.call(
        "PUT",
        &path,
        Some(json!({"revision": rev + 7, "name": "x"})),
    )
    .error(409, "future revision");

    // Eight tabs save the same revision at once: exactly one wins.
    let results: Vec<u16> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (s, path) = (&s, &path);
                sc.spawn(move || {
                    let text = format!("version: 1\nname: tab{i}\n");
                    s.call(
                        "PUT",
                        path,
                        Some(json!({"revision": rev + 1, "text": text})),
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|&&c| c == 200).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|&&c| c == 409).count(),
        7,
        "{results:?}"
    );
    let saved = s.call("GET", &path, None).json();
    assert_eq!(saved["revision"].as_i64(), Some(rev + 2));
    let winner = saved["text"].as_str().unwrap().to_string();
    assert!(winner.starts_with("version: 1\nname: tab"), "{winner}");

    // An answered save survives the server being killed.
    let dir = s.kill();
    let s = Server::start_in(dir);
    let again = s.call("GET", &path, None).json();
    assert_eq!(
        (again["revision"].as_i64(), again["text"].as_str()),
        (Some(rev + 2), Some(winner.as_str()))
    );
}

/// `netloom serve ARGS` must refuse to start: its exit code 2 and what it said.
fn refused(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert_eq!(st.code(), Some(2), "{args:?}: {err}");
            return err;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("netloom serve {args:?} started");
}

#[test]
fn the_network_needs_a_token_file_and_tls_or_insecure() {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: had the checks
    // been skipped, binding would fail with another message.
    let dir = std::env::temp_dir().join(format!("netloom-api-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "a-long-enough-token-0123456789\n").unwrap();
    let short = dir.join("short");
    std::fs::write(&short, "short\n").unwrap();
    for f in [&token, &short] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let data = dir.join("data");
    let (token, short, data) = (
        token.to_str().unwrap(),
        short.to_str().unwrap(),
        data.to_str().unwrap(),
    );
    let err = refused(&["--listen", "192.0.2.1:7310", "--data-dir", data]);
    assert!(err.contains("--token-file"), "{err}");
    let err = refused(&[
        "--listen",
        "192.0.2.1:7310",
        "--token-file",
        token,
        "--data-dir",
        data,
    ]);
    assert!(err.contains("--insecure"), "{err}");
    let err = refused(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        short,
        "--data-dir",
        data,
    ]);
    assert!(err.contains("at least 16"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
