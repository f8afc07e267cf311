//! Every example lab opens from the Examples menu, renders without problems
//! and shows its description and expected result (the file's header comment).
//! Screenshots: e2e/artifacts/example-<name>.png.

mod browser;

use browser::{wait_for, Browser, Server};
use serde_json::json;

#[test]
fn every_example_renders_without_problems() {
    if !browser::available("every_example_renders_without_problems") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut names: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    for (name, text) in &names {
        b.click("#examples-menu summary");
        b.click(&format!("#example-{name}"));
        let spec = netloom_core::parse(text).unwrap();
        let want = json!(
            spec.hosts
                .iter()
                .map(|h| h.bridges.len() + h.vms.len() + h.dhcp.len() + h.routers.len())
                .sum::<usize>()
                + spec.externals.len()
        );
        wait_for(&format!("{name}: every element drawn"), 20, || {
            let n = b.js(
                "return document.querySelectorAll('#canvas g.node').length",
                json!([]),
            );
            let title = b.text("header .title");
            (n == want && title.starts_with(&spec.name)).then_some(())
        });
        b.wait_css("#no-problems", 10);
        assert_eq!(
            b.js(
                "return document.querySelectorAll('#canvas .bad').length",
                json!([])
            ),
            json!(0),
            "{name}: elements marked with problems"
        );
        // The header's first words and its "Expected" line, as the file has them.
        let header: Vec<&str> = text
            .lines()
            .map_while(|l| l.strip_prefix('#'))
            .map(str::trim)
            .collect();
        let about = b.text("#lab-about");
        assert!(about.contains(header[0]), "{name}: {about:?}");
        let expected = header.iter().find(|l| l.starts_with("Expected")).unwrap();
        assert!(
            about.contains(expected),
            "{name}: {about:?} lacks {expected:?}"
        );
        b.screenshot(&format!("example-{name}"));
    }
    b.click("#lab-about .close");
    wait_for("the description closed", 10, || {
        (!b.exists("#lab-about")).then_some(())
    });
    b.assert_csp_kept();
}
