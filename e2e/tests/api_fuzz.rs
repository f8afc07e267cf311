//! The API against its own OpenAPI document: the real `netloom serve` on
//! 127.0.0.1 with a temporary store, and schemathesis (installed pinned by
//! scripts/install-deps.sh into tools/schemathesis) generating requests from
//! the document it serves, valid and invalid, with a fixed seed and a bounded
//! number of cases. No answer may be a 5xx, and every answer must be one the
//! document lists, with its content type and schema.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod apply_support;

/// The server, killed on drop with its data directory removed (even when the test fails).
struct Serve {
    child: Child,
    dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn the_server_conforms_to_its_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let st = root.join("tools/schemathesis/bin/st");
    assert!(
        st.is_file(),
        "{} is missing: run scripts/install-deps.sh",
        st.display()
    );
    let dir = std::env::temp_dir().join(format!("netloom-api-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(apply_support::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start netloom serve");
    let stdout = child.stdout.take().unwrap();
    let server = Serve {
        child,
        dir: dir.clone(),
    };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let (base, token) = line
        .trim()
        .split_once("/login?token=")
        .unwrap_or_else(|| panic!("unexpected serve output {line:?}"));
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let out = Command::new(&st)
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--url", base])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        // Writes must come from the app's own origin.
        .args(["-H", &format!("Origin: {base}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20261206",
            "--max-examples",
            "50",
            "--workers",
            "1",
            "--request-timeout",
            "30",
        ])
        // Hypothesis keeps its example database in the working directory.
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It tested every operation it selected, and that is nearly all (16, the
    // event stream may be left out).
    let count = |label: &str| -> usize {
        let at = text
            .find(label)
            .unwrap_or_else(|| panic!("no {label:?} in {text}"));
        text[at + label.len()..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("Selected:") >= 15, "{text}");
    assert_eq!(count("Tested:"), count("Selected:"), "{text}");
    drop(server);
}
