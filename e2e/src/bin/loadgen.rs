//! Load generator for `netloom serve`: N clients, each on its own keep-alive
//! HTTP/1.1 connection, for D seconds, in a mix of what the app does: validate
//! a topology, simulate a probe, list designs, open one, save it. Every client saves only its own
//! design with the revision it last got, so any non-2xx answer is an error.
//!
//! It starts `netloom serve` itself on 127.0.0.1 (a free port, a fresh data
//! directory) and stops it at the end; all traffic stays on loopback.
//!
//! ```text
//! loadgen [--clients 50] [--seconds 30] [--netloom PATH]
//! ```
//! Prints per-operation counts and latency percentiles; exits 1 on any error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const SEEDLAB: &str = include_str!("../../../examples/seedlab-gre.yaml");
const NAT: &str = include_str!("../../../examples/nat.yaml");

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Validate,
    List,
    Open,
    Save,
    Simulate,
}

const OPS: [Op; 5] = [Op::Validate, Op::List, Op::Open, Op::Save, Op::Simulate];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Validate => "validate",
            Op::List => "list",
            Op::Open => "open",
            Op::Save => "save",
            Op::Simulate => "simulate",
        }
    }
}

/// The mix, in tenths: 2 validate, 2 simulate, 2 open, 2 list, 2 save.
fn op_for(n: u64) -> Op {
    match n % 10 {
        0 | 1 => Op::Validate,
        2 | 3 => Op::Simulate,
        4 | 5 => Op::Open,
        6 | 7 => Op::List,
        _ => Op::Save,
    }
}

struct Args {
    clients: usize,
    seconds: u64,
    netloom: PathBuf,
}

fn args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut a = Args {
        clients: 50,
        seconds: 30,
        netloom: exe.with_file_name("netloom"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--clients" => a.clients = value.parse().map_err(|_| "--clients: a number")?,
            "--seconds" => a.seconds = value.parse().map_err(|_| "--seconds: a number")?,
            "--netloom" => a.netloom = value.into(),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

/// `netloom serve` on a free loopback port, killed and its data removed on drop.
struct Server {
    child: Child,
    addr: String,
    token: String,
    dir: PathBuf,
}

impl Server {
    fn start(netloom: &PathBuf) -> Result<Server, String> {
        let dir = std::env::temp_dir().join(format!("netloom-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new(netloom)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", netloom.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let parsed = line
            .trim()
            .strip_prefix("http://")
            .and_then(|r| r.split_once("/login?token="));
        let Some((addr, token)) = parsed else {
            let _ = child.kill();
            return Err(format!("netloom serve printed {line:?}, not its login URL"));
        };
        Ok(Server {
            addr: addr.to_string(),
            token: token.to_string(),
            child,
            dir,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One keep-alive connection speaking just enough HTTP/1.1 for netloom's JSON answers.
struct Conn {
    reader: BufReader<TcpStream>,
    head: String,
}

impl Conn {
    fn open(s: &Server) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(&s.addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let head = format!(
            "Host: {0}\r\nOrigin: http://{0}\r\nAuthorization: Bearer {1}\r\n",
            s.addr, s.token
        );
        Ok(Conn {
            reader: BufReader::new(stream),
            head,
        })
    }

    /// Send one request (`body`: JSON text) and read its answer: (status, body).
    fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, Vec<u8>), String> {
        let body = body.unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.head,
            body.len()
        );
        let io = |e: std::io::Error| format!("{method} {path}: {e}");
        self.reader
            .get_mut()
            .write_all(req.as_bytes())
            .map_err(io)?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(io)?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(format!("{method} {path}: bad status line {line:?}"))?;
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).map_err(io)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().map_err(|_| format!("bad length {v:?}"))?;
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(format!("{method} {path}: unexpected chunked answer"));
                }
            }
        }
        let mut out = vec![0; length];
        self.reader.read_exact(&mut out).map_err(io)?;
        Ok((status, out))
    }
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    /// Per op: latencies in microseconds.
    lat: [Vec<u32>; 5],
    errors: Vec<String>,
}

fn client(server: &Server, n: usize, until: Instant) -> Tally {
    let mut t = Tally::default();
    let fail = |t: &mut Tally, e: String| t.errors.push(e);
    let mut conn = match Conn::open(server) {
        Ok(c) => c,
        Err(e) => {
            fail(&mut t, format!("connect: {e}"));
            return t;
        }
    };
    // Own design, created before the clock starts mattering.
    let created = conn.call(
        "POST",
        "/api/designs",
        Some(&format!(
            r#"{{"name": "load {n}", "text": {}}}"#,
            quote(SEEDLAB)
        )),
    );
    let (id, mut revision) = match created {
        Ok((201, b)) => (number(&b, "id"), number(&b, "revision")),
        other => {
            fail(&mut t, format!("create: {other:?}"));
            return t;
        }
    };
    let design = format!("/api/designs/{id}");
    let texts = [quote(SEEDLAB), quote(NAT)];
    // Per text, a probe that crosses it: the GRE tunnel; the NAT router to the external network.
    let probes = [
        r#""from": "vm1", "to": "vm3""#,
        r#""from": "vm1", "to": "198.51.100.1""#,
    ];
    let mut i = n as u64;
    while Instant::now() < until {
        i += 1;
        let op = op_for(i);
        let text = &texts[(i % 2) as usize];
        let started = Instant::now();
        let res = match op {
            Op::Validate => conn.call(
                "POST",
                "/api/validate",
                Some(&format!(r#"{{"text": {text}}}"#)),
            ),
            Op::Simulate => conn.call(
                "POST",
                "/api/simulate",
                Some(&format!(
                    r#"{{"text": {text}, {}}}"#,
                    probes[(i % 2) as usize]
                )),
            ),
            Op::List => conn.call("GET", "/api/designs", None),
            Op::Open => conn.call("GET", &design, None),
            Op::Save => conn.call(
                "PUT",
                &design,
                Some(&format!(r#"{{"revision": {revision}, "text": {text}}}"#)),
            ),
        };
        let took = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        match res {
            Ok((200, body)) => {
                t.lat[op as usize].push(took);
                if op == Op::Save {
                    revision = number(&body, "revision");
                }
            }
            Ok((status, body)) => fail(
                &mut t,
                format!("{}: {status} {}", op.name(), String::from_utf8_lossy(&body)),
            ),
            Err(e) => {
                fail(&mut t, e);
                match Conn::open(server) {
                    Ok(c) => conn = c,
                    Err(_) => return t,
                }
            }
        }
    }
    t
}

/// A JSON string literal (the crate has no JSON dependency to keep it light).
fn quote(s: &str) -> String {
    let mut o = String::from('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The integer value of `"key":` in netloom's compact JSON answer (-1 when absent).
fn number(body: &[u8], key: &str) -> i64 {
    let text = String::from_utf8_lossy(body);
    let pat = format!("\"{key}\":");
    text.find(&pat)
        .map(|at| &text[at + pat.len()..])
        .and_then(|rest| {
            let end = rest
                .find(|c: char| !c.is_ascii_digit() && c != '-')
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .unwrap_or(-1)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::start(&a.netloom) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let until = started + Duration::from_secs(a.seconds);
    let tallies: Vec<Tally> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..a.clients)
            .map(|n| {
                let server = &server;
                sc.spawn(move || client(server, n, until))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all: Vec<u32> = Vec::new();
    println!(
        "{} clients, {:.1} s, 127.0.0.1 (netloom serve, {})",
        a.clients,
        elapsed,
        a.netloom.display()
    );
    println!("| operation | requests | p50 ms | p99 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for op in OPS {
        let mut l: Vec<u32> = tallies
            .iter()
            .flat_map(|t| t.lat[op as usize].iter().copied())
            .collect();
        l.sort_unstable();
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} |",
            op.name(),
            l.len(),
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            percentile(&l, 1.0)
        );
        all.extend(l);
    }
    all.sort_unstable();
    println!(
        "| all | {} | {:.2} | {:.2} | {:.2} |",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    );
    let errors: Vec<&String> = tallies.iter().flat_map(|t| &t.errors).collect();
    println!(
        "{:.0} requests/s, {} errors",
        all.len() as f64 / elapsed,
        errors.len()
    );
    for e in errors.iter().take(10) {
        println!("error: {e}");
    }
    if errors.is_empty() && !all.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
