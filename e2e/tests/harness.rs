//! Proves the harness: a namespace pair joined by a veth talks, and the guards
//! leave nothing behind, even when the test body panics.

use netloom_e2e::{netns_list, root, run, Netns, TEST_PREFIX};

#[test]
fn namespace_pair_with_a_veth_pings_and_is_cleaned_up() {
    if !root("namespace_pair_with_a_veth_pings_and_is_cleaned_up") {
        return;
    }
    let pid = std::process::id();
    let (a_name, b_name);
    {
        let a = Netns::new(&format!("{pid}-a"));
        let b = Netns::new(&format!("{pid}-b"));
        a_name = a.name().to_owned();
        b_name = b.name().to_owned();
        // The veth peer is created directly inside b; both ends live only in our namespaces.
        run(&[
            "ip",
            "-n",
            a.name(),
            "link",
            "add",
            "v0",
            "type",
            "veth",
            "peer",
            "name",
            "v1",
            "netns",
            b.name(),
        ]);
        run(&[
            "ip",
            "-n",
            a.name(),
            "addr",
            "add",
            "192.0.2.1/24",
            "dev",
            "v0",
        ]);
        run(&[
            "ip",
            "-n",
            b.name(),
            "addr",
            "add",
            "192.0.2.2/24",
            "dev",
            "v1",
        ]);
        run(&["ip", "-n", a.name(), "link", "set", "v0", "up"]);
        run(&["ip", "-n", b.name(), "link", "set", "v1", "up"]);
        let ping = a.exec(&["ping", "-c", "1", "-W", "5", "192.0.2.2"]);
        assert!(
            ping.status.success(),
            "ping between our own namespaces failed: {}",
            String::from_utf8_lossy(&ping.stdout)
        );
    }
    let left = netns_list();
    assert!(
        !left.contains(&a_name) && !left.contains(&b_name),
        "left behind: {left:?}"
    );
}

#[test]
fn guard_cleans_up_when_the_test_panics() {
    if !root("guard_cleans_up_when_the_test_panics") {
        return;
    }
    let name = format!("{TEST_PREFIX}{}-panic", std::process::id());
    let caught = std::panic::catch_unwind(|| {
        let ns = Netns::new(&format!("{}-panic", std::process::id()));
        assert!(netns_list().contains(&ns.name().to_owned()));
        panic!("a failing test body");
    });
    assert!(caught.is_err());
    assert!(
        !netns_list().contains(&name),
        "the guard did not delete {name}"
    );
}
