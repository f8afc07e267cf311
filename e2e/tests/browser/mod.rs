//! Harness of the browser tests: a real `netloom serve`, a real headless
//! Chromium driven through chromedriver (W3C WebDriver over plain HTTP on
//! 127.0.0.1; the few commands needed are written here, no client crate).
//!
//! Tests wait for conditions (polling with a deadline), never for fixed times.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The netloom binary beside this test's (target/<profile>/netloom), or $NETLOOM_BIN.
pub fn netloom_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("NETLOOM_BIN") {
        return Some(PathBuf::from(b));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|d| d.join("netloom"))
        .find(|p| p.is_file())
}

/// Everything needed is there; otherwise say why the test is skipped.
pub fn available(test: &str) -> bool {
    let dist = workspace().join("dist/index.html");
    let why = if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        Some(format!(
            "needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        ))
    } else if !dist.is_file() {
        Some(
            "the web app is not built: run `trunk build --release` at the repository root"
                .to_string(),
        )
    } else if netloom_bin().is_none() {
        Some(
            "the netloom binary is not built: run `cargo build -p netloom` (or set NETLOOM_BIN)"
                .to_string(),
        )
    } else {
        None
    };
    match why {
        Some(w) => {
            eprintln!("SKIPPED {test}: {w}");
            false
        }
        None => true,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until `f` returns `Some`, or fail with `what` after `secs`.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when the guard drops (also on panic).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `netloom serve` on a free loopback port with a private data directory.
pub struct Server {
    /// Where the static files come from (`dist`, or $NETLOOM_DIST).
    pub dist: PathBuf,
    _proc: Proc,
    pub login_url: String,
    pub base: String,
    data: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with_env(&[])
    }

    /// Started with extra environment (e.g. `NETLOOM_FAIL_AT` to inject a failure).
    pub fn start_with_env(env: &[(&str, &str)]) -> Server {
        let dist = std::env::var_os("NETLOOM_DIST")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("dist"));
        let data = std::env::temp_dir().join(format!(
            "netloom-browser-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut child = Command::new(netloom_bin().unwrap())
            .args(["serve", "--listen", "127.0.0.1:0", "--dist"])
            .arg(&dist)
            .arg("--data-dir")
            .arg(&data)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netloom serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let login_url = line.trim().to_string();
        assert!(
            login_url.starts_with("http://127.0.0.1:"),
            "unexpected serve output {login_url:?}"
        );
        let base = login_url.split("/login").next().unwrap().to_string();
        Server {
            dist,
            _proc: Proc(child),
            login_url,
            base,
            data,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// One HTTP/1.1 request to chromedriver; returns the JSON body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_http(port, method, path, body)
        .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}"))
}

fn try_http(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver keeps the connection open: read exactly one response.
    let mut r = BufReader::new(s);
    let mut len = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        chunked |= l.starts_with("transfer-encoding:") && l.contains("chunked");
    }
    let payload = if chunked {
        let mut out = Vec::new();
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut buf = vec![0; n + 2];
            r.read_exact(&mut buf)?;
            out.extend_from_slice(&buf[..n]);
        }
        out
    } else {
        let mut buf = vec![0; len.unwrap_or(0)];
        r.read_exact(&mut buf)?;
        buf
    };
    let payload = String::from_utf8_lossy(&payload);
    Ok(serde_json::from_str(&payload).unwrap_or(Value::Null))
}

/// A browser session; chromedriver and Chromium end when it drops.
pub struct Browser {
    port: u16,
    session: String,
    _driver: Proc,
    profile: PathBuf,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub fn start(width: u32, height: u32) -> Browser {
        Self::start_with(width, height, &[])
    }

    /// With extra Chromium switches (the benchmarks lift the frame-rate cap).
    pub fn start_with(width: u32, height: u32, extra: &[&str]) -> Browser {
        let port = free_port();
        let driver = Proc(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        wait_for("chromedriver", 30, || {
            let st = try_http(port, "GET", "/status", None).ok()?;
            st["value"]["ready"].as_bool().filter(|r| *r)
        });
        let profile =
            std::env::temp_dir().join(format!("netloom-chromium-{}-{port}", std::process::id()));
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The console, for csp_violations.
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args
            }
        }}});
        let r = http(port, "POST", "/session", Some(&caps));
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        Browser {
            port,
            session,
            _driver: driver,
            profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = http(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        );
        if let Some(err) = r["value"]["error"].as_str() {
            panic!("WebDriver {path}: {err}: {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "browser tests talk only to 127.0.0.1"
        );
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// What the console reported since the last call about things the
    /// server's Content-Security-Policy refused (scripts, styles, requests).
    pub fn csp_violations(&self) -> Vec<String> {
        let log = self.cmd("POST", "/se/log", Some(json!({"type": "browser"})));
        log.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("Content Security Policy"))
            .map(str::to_string)
            .collect()
    }

    /// Fail the test if the page broke its own Content-Security-Policy.
    pub fn assert_csp_kept(&self) {
        let refused = self.csp_violations();
        assert!(
            refused.is_empty(),
            "the page broke its own CSP: {refused:#?}"
        );
    }

    /// Run a script (its `arguments` are `args`); returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Run an asynchronous script: it calls `arguments[arguments.length - 1]` with its result.
    pub fn js_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Wait until a CSS selector matches something.
    pub fn wait_css(&self, css: &str, secs: u64) {
        wait_for(css, secs, || {
            self.js(
                "return document.querySelector(arguments[0]) !== null",
                json!([css]),
            )
            .as_bool()
            .filter(|b| *b)
        });
    }

    pub fn exists(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]) !== null",
            json!([css]),
        )
        .as_bool()
        .unwrap_or(false)
    }

    /// The centre of the element matching `css`, in viewport pixels.
    pub fn center(&self, css: &str) -> (i64, i64) {
        self.wait_css(css, 10);
        let v = self.js(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)]",
            json!([css]),
        );
        (v[0].as_i64().unwrap(), v[1].as_i64().unwrap())
    }

    /// A viewport point relative to the canvas's top-left corner.
    pub fn canvas_point(&self, x: i64, y: i64) -> (i64, i64) {
        let v = self.js(
            "const r = document.getElementById('canvas').getBoundingClientRect(); return [Math.round(r.left), Math.round(r.top)]",
            json!([]),
        );
        (v[0].as_i64().unwrap() + x, v[1].as_i64().unwrap() + y)
    }

    /// Press at one viewport point, move in steps, release at another (a real pointer drag).
    pub fn drag(&self, from: (i64, i64), to: (i64, i64)) {
        let mut actions = vec![
            json!({"type": "pointerMove", "x": from.0, "y": from.1, "origin": "viewport", "duration": 0}),
            json!({"type": "pointerDown", "button": 0}),
        ];
        for i in 1..=5 {
            let x = from.0 + (to.0 - from.0) * i / 5;
            let y = from.1 + (to.1 - from.1) * i / 5;
            actions.push(json!({"type": "pointerMove", "x": x, "y": y, "origin": "viewport", "duration": 30}));
        }
        actions.push(json!({"type": "pointerUp", "button": 0}));
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]})),
        );
        self.cmd("DELETE", "/actions", None);
    }

    /// A right-click (the secondary button) at a viewport point.
    pub fn context_click(&self, at: (i64, i64)) {
        let actions = [
            json!({"type": "pointerMove", "x": at.0, "y": at.1, "origin": "viewport", "duration": 0}),
            json!({"type": "pointerDown", "button": 2}),
            json!({"type": "pointerUp", "button": 2}),
        ];
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]})),
        );
        self.cmd("DELETE", "/actions", None);
    }

    /// The WebDriver id of the element matching `css` (waiting for it).
    fn element(&self, css: &str) -> String {
        // Generous: a deadline, not a wait, and the machine may be busy.
        self.wait_css(css, 30);
        let r = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        r[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {r}"))
            .to_string()
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Type with the keyboard into an element, after what it holds (as a
    /// user who clicks a field and types); for a file input, `text` is a path.
    pub fn type_keys(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Wait until the field matching `css` shows `want`; fail with what it shows.
    pub fn wait_value(&self, css: &str, want: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let seen = self.text(css);
            if seen == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {seen:?}, not {want:?} (after {secs} s)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An API call from the page, with its session: `[status, body]`.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.js_async(
            "const [method, path, body, done] = arguments;
             const init = {method, headers: {'content-type': 'application/json'}};
             if (body !== null) init.body = JSON.stringify(body);
             fetch(path, init).then(async r => done([r.status, await r.json().catch(() => null)]))
                 .catch(e => done([0, String(e)]));",
            json!([method, path, body]),
        )
    }

    /// Type into a field as a user would commit it: the value, then `change`.
    pub fn set_field(&self, css: &str, value: &str) {
        self.wait_css(css, 10);
        self.js(
            "const e = document.querySelector(arguments[0]); e.focus(); e.value = arguments[1];
             e.dispatchEvent(new Event('input', {bubbles: true}));
             e.dispatchEvent(new Event('change', {bubbles: true})); e.blur();",
            json!([css, value]),
        );
    }

    /// Press a key with modifiers held, e.g. `keys(&[CONTROL, SHIFT], "z")`.
    pub fn keys(&self, modifiers: &[&str], key: &str) {
        let mut a: Vec<Value> = modifiers
            .iter()
            .map(|m| json!({"type": "keyDown", "value": m}))
            .collect();
        a.push(json!({"type": "keyDown", "value": key}));
        a.push(json!({"type": "keyUp", "value": key}));
        a.extend(
            modifiers
                .iter()
                .rev()
                .map(|m| json!({"type": "keyUp", "value": m})),
        );
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "kbd", "actions": a}]})),
        );
        self.cmd("DELETE", "/actions", None);
    }

    /// Open a design through the YAML panel; wait until its `nodes` elements are drawn.
    pub fn open_design(&self, text: &str, nodes: usize, secs: u64) {
        self.set_field("#yaml", text);
        wait_for("the design drawn", secs, || {
            (self.js(
                "return document.querySelectorAll('#canvas g.node').length",
                json!([]),
            ) == json!(nodes))
            .then_some(())
        });
    }

    pub fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? (e.value !== undefined && e.tagName !== 'LI' ? e.value : e.textContent) : null",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Save a PNG of the page under e2e/artifacts/.
    pub fn screenshot(&self, name: &str) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap_or_default());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = try_http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `benchmarks/apply/gen_big.py`'s lab: `hosts` hosts of `vms` vms, a GRE chain, VLANs 10 and 20.
pub fn chain_lab(hosts: usize, vms: usize) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../benchmarks/apply/gen_big.py"
    );
    let out = std::process::Command::new("python3")
        .args([script, &hosts.to_string(), &vms.to_string(), "bigmx"])
        .output()
        .expect("python3 runs gen_big.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Tears a deployed lab down whatever happens to the test: netloom's own
/// destroy, then a sweep of its namespaces by prefix.
pub struct Deployed(pub &'static str);

impl Drop for Deployed {
    fn drop(&mut self) {
        if let Some(bin) = netloom_bin() {
            let _ = std::process::Command::new(bin)
                .args(["destroy", "--name", self.0])
                .output();
        }
        netloom_e2e::sweep(&format!("nl-{}.", self.0));
        let _ = std::fs::remove_dir_all(format!("/run/netloom/{}", self.0));
    }
}

/// Make a deployed guest (its namespace) ignore pings: a broken link the
/// simulation cannot know of.
pub fn ignore_pings(netns: &str) {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "sysctl",
            "-qw",
            "net.ipv4.icmp_echo_ignore_all=1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start a Deploy-tab job (Destroy: answering its confirmation yes) and
/// wait for its result; returns `data-ok`.
pub fn job(b: &Browser, button: &str, action: &str, secs: u64) -> bool {
    b.click(button);
    if action == "destroy" {
        confirm(b, true);
    }
    wait_for(&format!("{action} to finish"), secs, || {
        let r = b.js(
            "const r = document.getElementById('job-result'); return r ? [r.dataset.action, r.dataset.ok] : null",
            json!([]),
        );
        (r[0] == action).then(|| r[1] == "true")
    })
}

/// A browser logged in to `server`'s app, the canvas drawn.
pub fn app(server: &Server) -> Browser {
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    b
}

/// The YAML panel's text.
pub fn yaml(b: &Browser) -> String {
    b.text("#yaml")
}

pub fn wait_yaml(b: &Browser, needle: &str) {
    wait_for(&format!("YAML containing {needle:?}"), 30, || {
        yaml(b).contains(needle).then_some(())
    });
}

/// Open a design through the YAML panel and wait until it is the app's, valid.
pub fn open_design(b: &Browser, text: &str, name: &str) {
    b.set_field("#yaml", text);
    wait_for(&format!("design {name} opened"), 60, || {
        b.text("header .title").starts_with(name).then_some(())
    });
    assert!(!b.exists(".problem.error"), "{name} has errors");
}

/// For a root browser test that deploys the seed lab as `name`: its guard,
/// a server and the app with the lab open; `None` when the test is skipped.
pub fn seed_lab_app(test: &str, name: &'static str) -> Option<(Deployed, Server, Browser)> {
    if !available(test) || !netloom_e2e::root(test) {
        return None;
    }
    let guard = Deployed(name);
    let server = Server::start();
    let b = app(&server);
    open_seed_lab(&b, name);
    Some((guard, server, b))
}

/// Open the seed lab (examples/seedlab-gre.yaml) renamed `name`, the name
/// it is deployed under.
pub fn open_seed_lab(b: &Browser, name: &str) {
    let text = include_str!("../../../examples/seedlab-gre.yaml")
        .replace("name: seedlab", &format!("name: {name}"));
    open_design(b, &text, name);
}

pub fn open_example(b: &Browser, name: &str) {
    b.click("#examples-menu summary");
    b.click(&format!("#example-{name}"));
}

/// Click a node on the canvas (by its element id) and wait until it is selected.
pub fn select(b: &Browser, id: &str) {
    b.click(&format!("#{id} rect"));
    wait_for(&format!("{id} selected"), 30, || {
        b.exists(&format!("#{id}.selected, #{id} rect.selected"))
            .then_some(())
    });
}

/// Answer the app's own confirmation dialog (Destroy, New over unsaved work…).
pub fn confirm(b: &Browser, yes: bool) {
    b.click(if yes { "#confirm-yes" } else { "#confirm-no" });
    wait_for("the confirmation to close", 30, || {
        (!b.exists("#confirm-dialog")).then_some(())
    });
}

pub const CONTROL: &str = "\u{E009}";
pub const SHIFT: &str = "\u{E008}";

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
