//! Editing as people do it, in a real headless Chromium: the fields show the
//! selected element's values (after typing, after undo); Delete deletes the
//! node clicked, wherever the keyboard was; the matrix's columns are named
//! and ordered like its rows; New, Examples and Import ask before replacing
//! unsaved work and can be undone; Save after a reload updates the stored
//! design. Screenshots: e2e/artifacts/editing-*.png.

mod browser;

use browser::{
    app, confirm, open_example, select, wait_for, wait_yaml, yaml, Browser, Server, CONTROL,
};
use serde_json::{json, Value};

const DELETE: &str = "\u{E017}";
const ESCAPE: &str = "\u{E00C}";
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// One axis of the matrix in on-screen order, as (text, name): the text
/// `#host` for a host's heading.
fn labels(b: &Browser, axis: &str) -> Vec<(String, String)> {
    let prop = if axis == "row" { "top" } else { "left" };
    let v = b.js(
        "return [...document.querySelectorAll('#reach-matrix .mx-label.' + arguments[0])]
            .sort((a, b) => parseFloat(a.style[arguments[1]]) - parseFloat(b.style[arguments[1]]))
            .map(e => [(e.classList.contains('group') ? '#' : '') + e.textContent, e.dataset.name])",
        json!([axis, prop]),
    );
    serde_json::from_value(v).unwrap()
}

#[test]
fn fields_matrix_and_keyboard_follow_what_is_selected() {
    if !browser::available("fields_matrix_and_keyboard_follow_what_is_selected") {
        return;
    }
    let server = Server::start();
    let b = app(&server);

    // The matrix: a column per address, named by its owner, in the rows'
    // order, so every sender's own address is on the diagonal; the
    // router's addresses (it sends no pings) come after.
    open_example(&b, "nat");
    b.wait_css("#no-problems", 30);
    b.click("#tab-sim");
    b.click("#reach-run");
    b.wait_css("#reach-status[data-state=\"done\"]", 60);
    b.click("#matrix-wide");
    let (rows, row_names): (Vec<String>, Vec<String>) = labels(&b, "row").into_iter().unzip();
    assert_eq!(
        rows,
        ["#node1", "vm1", "vm2", "#external networks", "internet"]
    );
    let (cols, col_names): (Vec<String>, Vec<String>) = labels(&b, "col").into_iter().unzip();
    assert_eq!(
        cols[..rows.len()],
        [
            "#node1",
            "vm1 10.0.0.1",
            "vm2 10.0.0.2",
            "#external networks",
            "internet 198.51.100.1"
        ],
        "columns: {cols:?}"
    );
    assert!(
        cols[rows.len()..].contains(&"node1/r1 10.0.0.254".to_string())
            && cols[rows.len()..].contains(&"node1/r1 198.51.100.2".to_string()),
        "the router's addresses come after the senders': {cols:?}"
    );
    // No cell on the diagonal (a sender's own address), one everywhere
    // else in the senders' square.
    let cells: Vec<(String, String)> = serde_json::from_value(b.js(
        "return [...document.querySelectorAll('#reach-matrix .cell')].map(c => [c.dataset.from, c.dataset.to])",
        json!([]),
    ))
    .unwrap();
    let members: Vec<usize> = (0..rows.len())
        .filter(|&i| !rows[i].starts_with('#'))
        .collect();
    for &i in &members {
        for &j in &members {
            let pair = (row_names[i].clone(), col_names[j].clone());
            assert_eq!(cells.contains(&pair), i != j, "cell {pair:?}");
        }
    }
    b.screenshot("editing-1-matrix");
    // A click on a cell runs its pair, and the Source list says whose.
    b.click("#reach-matrix .cell[data-from=\"vm2\"][data-to=\"198.51.100.1\"]");
    b.wait_css("#sim-result", 60);
    b.wait_value("#sim-from", "vm2", 30);
    b.wait_value("#sim-to", "198.51.100.1", 30);
    b.click("#matrix-wide");

    // The fields: after typing in vm2's VLAN, vm3 shows its own values.
    b.click("#tab-props");
    open_example(&b, "seedlab-gre");
    b.wait_css("#hosts-1-vms-1", 30);
    select(&b, "hosts-0-vms-1");
    b.wait_value("#prop-nic0-vlan", "20", 30);
    b.set_field("#prop-nic0-vlan", "21");
    wait_yaml(&b, "vlan: 21");
    select(&b, "hosts-1-vms-0");
    b.wait_value("#prop-name", "vm3", 30);
    b.wait_value("#prop-nic0-vlan", "10", 30);
    b.wait_value("#prop-nic0-ip", "10.0.10.2/24", 30);
    // Typed after what the field shows, as a user clicking into it does.
    b.type_keys("#prop-nic0-vlan", &format!("0{TAB}"));
    wait_for("vm3's VLAN 100", 30, || {
        let spec = netloom_core::parse(&yaml(&b)).ok()?;
        (spec.hosts[1].vms[0].nics[0].vlan == Some(100)).then_some(())
    });
    b.screenshot("editing-2-fields");

    // Undo: the field shows the value again.
    b.js("document.activeElement.blur(); return null", json!([]));
    b.keys(&[], ESCAPE);
    b.wait_value("#prop-design-name", "seedlab", 30);
    b.set_field("#prop-design-name", "renamed");
    wait_yaml(&b, "name: renamed");
    b.keys(&[CONTROL], "z");
    wait_yaml(&b, "name: seedlab");
    b.wait_value("#prop-design-name", "seedlab", 30);

    // Delete after clicking a node deletes the node, wherever the keyboard was.
    b.click("#yaml");
    select(&b, "hosts-1-vms-1");
    b.keys(&[], DELETE);
    wait_for("vm4 deleted", 30, || {
        let spec = netloom_core::parse(&yaml(&b)).ok()?;
        (spec.hosts[1].vms.len() == 1 && !b.exists("#hosts-1-vms-1")).then_some(())
    });
    select(&b, "hosts-1-vms-0");
    b.click("#prop-nic0-ip");
    select(&b, "hosts-0-vms-0");
    b.keys(&[], DELETE);
    wait_for("vm1 deleted", 30, || {
        let spec = netloom_core::parse(&yaml(&b)).ok()?;
        (spec.hosts[0].vms.len() == 1 && spec.hosts[0].vms[0].name == "vm2").then_some(())
    });
    let spec = netloom_core::parse(&yaml(&b)).unwrap();
    assert_eq!(
        spec.hosts[1].vms[0].nics[0].ip.as_deref(),
        Some("10.0.10.2/24"),
        "vm3's address is intact"
    );
    b.screenshot("editing-3-deleted");
    b.assert_csp_kept();
}

/// The designs stored on the server, as `[name, revision]`.
fn stored(b: &Browser) -> Vec<(String, i64)> {
    let r = b.api("GET", "/api/designs", None);
    assert_eq!(r[0], 200, "{r}");
    r[1].as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["revision"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn replacing_work_asks_and_undoes_and_save_after_reload_updates() {
    if !browser::available("replacing_work_asks_and_undoes_and_save_after_reload_updates") {
        return;
    }
    let server = Server::start();
    let b = app(&server);
    // From an empty canvas nothing is lost: no question.
    open_example(&b, "seedlab-gre");
    b.wait_css("#hosts-1-vms-1", 30);
    assert!(!b.exists("#confirm-dialog"));
    b.keys(&[], ESCAPE);
    b.set_field("#prop-design-name", "mine");
    wait_yaml(&b, "name: mine");

    // New over unsaved work asks; No keeps the work.
    b.click("#new");
    b.wait_css("#confirm-dialog", 30);
    assert!(
        b.text("#confirm-dialog").contains("unsaved"),
        "{}",
        b.text("#confirm-dialog")
    );
    b.screenshot("editing-4-confirm");
    confirm(&b, false);
    assert!(yaml(&b).contains("name: mine") && b.exists("#hosts-1-vms-1"));
    // Enter answers Cancel too (it has the keyboard).
    b.click("#new");
    b.wait_css("#confirm-dialog", 30);
    b.keys(&[], ENTER);
    wait_for("the confirmation to close", 30, || {
        (!b.exists("#confirm-dialog")).then_some(())
    });
    assert!(yaml(&b).contains("name: mine") && b.exists("#hosts-1-vms-1"));
    // Yes replaces it, and Undo brings it back.
    b.click("#new");
    confirm(&b, true);
    b.wait_css("#welcome", 30);
    b.click("#undo");
    wait_yaml(&b, "name: mine");
    b.wait_css("#hosts-1-vms-1", 30);

    // An example too.
    open_example(&b, "nat");
    confirm(&b, true);
    wait_yaml(&b, "name: natlab");
    b.keys(&[CONTROL], "z");
    wait_yaml(&b, "name: mine");

    // And an imported file.
    let file = std::env::temp_dir().join(format!("netloom-import-{}.yaml", std::process::id()));
    std::fs::write(
        &file,
        include_str!("../../examples/vxlan.yaml").replace("name: ", "name: imp"),
    )
    .unwrap();
    b.type_keys("#import-file", file.to_str().unwrap());
    confirm(&b, true);
    let _ = std::fs::remove_file(&file);
    wait_yaml(&b, "name: imp");
    b.click("#undo");
    wait_yaml(&b, "name: mine");

    // Saved, the page reloaded: Save updates the same stored design.
    b.click("#tab-server");
    b.click("#save");
    wait_for("the first save", 20, || {
        (stored(&b) == [("mine".to_string(), 1)]).then_some(())
    });
    b.js("location.reload(); return null", json!([]));
    wait_for("the page reloaded", 30, || {
        b.text("header .title").contains("saved as").then_some(())
    });
    b.click("#tab-props");
    b.keys(&[], ESCAPE);
    b.set_field("#prop-underlay", "10.99.0.0/24");
    wait_yaml(&b, "underlay: 10.99.0.0/24");
    b.click("#tab-server");
    b.click("#save");
    wait_for("the second save", 20, || {
        let s = stored(&b);
        (s.len() != 1 || s[0].1 != 1).then_some(())
    });
    assert_eq!(
        stored(&b),
        [("mine".to_string(), 2)],
        "Save after a reload made a new design"
    );
    let saved = b.api("GET", "/api/designs", None)[1][0]["id"].clone();
    let text: Value = b.api("GET", &format!("/api/designs/{saved}"), None);
    assert!(text[1]["text"].as_str().unwrap().contains("10.99.0.0/24"));
    // Deleted on the server meanwhile: after a reload the app forgets it,
    // and Save makes a new design.
    let r = b.api("DELETE", &format!("/api/designs/{saved}"), None);
    assert_eq!(r[0], 204, "{r}");
    b.js("location.reload(); return null", json!([]));
    wait_for("the deleted design forgotten", 30, || {
        let title = b.text("header .title");
        (title.starts_with("mine") && !title.contains("saved as")).then_some(())
    });
    b.click("#tab-server");
    b.click("#save");
    wait_for("a new design saved", 30, || {
        (stored(&b) == [("mine".to_string(), 1)]).then_some(())
    });

    // Saved: New does not ask.
    b.click("#new");
    b.wait_css("#welcome", 30);
    assert!(!b.exists("#confirm-dialog"));
    b.assert_csp_kept();
}
