//! A real `netloom serve` for the black-box server tests: started on a free
//! loopback port with its own data directory, killed and cleaned up on drop.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub token: String,
    /// Removed on drop, unless emptied (e.g. by a test that keeps the data).
    pub dir: PathBuf,
}

impl Server {
    /// `netloom serve --listen 127.0.0.1:0 --data-dir DATA EXTRA...`, then read
    /// the login URL it prints (`http[s]://ADDR/login?token=TOKEN`). `dir` is
    /// the test's scratch directory; `data` the data directory (often `dir`).
    pub fn start(dir: PathBuf, data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netloom"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start netloom serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .expect(url);
        let (addr, token) = rest.split_once("/login?token=").expect(url);
        Server {
            child,
            addr: addr.to_string(),
            token: token.to_string(),
            dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh scratch directory for one test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netloom-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
