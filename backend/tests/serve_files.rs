//! What `netloom serve` leaves on disk and prints: a private data directory
//! and database, a token file that must be private, no token on the
//! terminal when it comes from a file, and no web app that another user
//! could change.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

mod support;

use support::scratch;

const TOKEN: &str = "file-token-0123456789abcdef";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn write_mode(p: &Path, text: &str, mode: u32) {
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `netloom serve ARGS` that must refuse to start: what it said.
fn refused(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_fresh_data_directory_and_its_database_are_private_and_the_file_token_is_not_printed() {
    let dir = scratch("files");
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    write_mode(&token, &format!("{TOKEN}\n"), 0o600);
    let data = dir.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_netloom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--token-file")
        .arg(&token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let addr = url
        .trim()
        .strip_prefix("http://")
        .and_then(|r| r.strip_suffix('/'))
        .unwrap_or_else(|| panic!("serve printed {url:?}"))
        .to_string();

    // A save makes SQLite's journals too.
    let body = r#"{"name":"lab","text":"version: 1\nname: lab\n"}"#;
    let mut c = TcpStream::connect(&addr).unwrap();
    write!(
        c,
        "POST /api/designs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    assert_eq!(mode(&data), 0o700, "the data directory");
    let files: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for f in ["netloom.db", "netloom.db-wal", "netloom.db-shm"] {
        assert!(files.iter().any(|x| x == f), "{f} not in {files:?}");
    }
    for f in &files {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }

    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !url.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token was printed: {url} {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "login?token=TOKEN, TOKEN being the content of {}",
            token.display()
        )),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_token_file_other_users_can_read_is_refused() {
    let dir = scratch("files-token");
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    write_mode(&token, TOKEN, 0o644);
    let data = dir.join("data");
    let err = refused(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        token.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!(
            "{}: mode 0644 lets other users read or change the token",
            token.display()
        )),
        "{err}"
    );
    assert!(!data.exists(), "refused before anything was made");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_web_app_other_users_can_change_is_not_served() {
    let dir = scratch("files-dist");
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    write_mode(&dist.join("index.html"), "<!doctype html>", 0o644);
    let args = |data: &Path| {
        vec![
            "--listen".to_string(),
            "127.0.0.1:0".into(),
            "--dist".into(),
            dist.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ]
    };
    let data = dir.join("data");
    let a = args(&data);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();

    // A file anyone may write.
    std::fs::set_permissions(
        dist.join("index.html"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let err = refused(&a);
    assert!(
        err.contains("refusing to serve the web app in") && err.contains("index.html is mode 0666"),
        "{err}"
    );
    // The directory itself.
    std::fs::set_permissions(
        dist.join("index.html"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&dist, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = refused(&a);
    assert!(err.contains("dist is mode 0777"), "{err}");
    // A directory above it that is not sticky.
    std::fs::set_permissions(&dist, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = refused(&a);
    assert!(
        err.contains(&format!("{} is mode 0777", dir.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
