//! Properties of reading and writing topology files:
//! - generated valid topologies validate, and survive YAML and JSON round
//!   trips with the same spec and the same resolved topology;
//! - no input, however mangled, deep or large, makes parsing or validation
//!   panic or overflow the stack: it is accepted or rejected with messages.

use std::collections::BTreeMap;

use netloom_core::format;
use netloom_core::limits::MAX_FILE_BYTES;
use netloom_core::spec::*;
use netloom_core::{load, parse, validate};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Shape of one vm nic: bridge index on its host, vlan, how it is addressed, own MAC or not.
#[derive(Debug, Clone)]
struct NicShape {
    bridge: usize,
    vlan: Option<i64>,
    addr: u8, // 0: none, 1: static, 2: dhcp
    mac: bool,
}

#[derive(Debug, Clone)]
struct HostShape {
    bridges: usize,
    vms: Vec<(Vec<NicShape>, bool)>,        // nics, has gateway
    dhcp: Option<Option<i64>>,              // a server, with its vlan
    router: Option<(usize, bool)>,          // interfaces, with NAT
    tunnel: (usize, usize, usize, u8, u32), // to host (mod i), my bridge, its bridge, kind, key/vni
    uplinks: Vec<usize>,                    // external per bridge (mod externals+1; 0: none)
    explicit_underlay: bool,
}

fn vlan() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        Just(Some(10)),
        Just(Some(20)),
        (1i64..=4094).prop_map(Some)
    ]
}

fn nic() -> impl Strategy<Value = NicShape> {
    (0usize..3, vlan(), 0u8..3, any::<bool>()).prop_map(|(bridge, vlan, addr, mac)| NicShape {
        bridge,
        vlan,
        addr,
        mac,
    })
}

fn host() -> impl Strategy<Value = HostShape> {
    (
        1usize..=3,
        prop::collection::vec((prop::collection::vec(nic(), 1..=2), any::<bool>()), 0..=3),
        prop::option::of(vlan()),
        prop::option::of((1usize..=3, any::<bool>())),
        (any::<usize>(), 0usize..3, 0usize..3, 0u8..3, any::<u32>()),
        prop::collection::vec(0usize..3, 3),
        any::<bool>(),
    )
        .prop_map(
            |(bridges, vms, dhcp, router, tunnel, uplinks, explicit_underlay)| HostShape {
                bridges,
                vms,
                dhcp,
                router,
                tunnel,
                uplinks,
                explicit_underlay,
            },
        )
}

/// Builds a valid spec: every address unique (nic n lives alone in 10.a.b.0/24),
/// tunnels form a tree over hosts, and only tunnel-free bridges have uplinks,
/// so no loop can form.
fn build(
    name: String,
    externals: usize,
    hosts: Vec<HostShape>,
    layout: Vec<(f64, f64)>,
) -> TopologySpec {
    let mut spec = TopologySpec {
        expect: None,
        version: 1,
        name,
        underlay: None,
        engine: None,
        ovn: None,
        externals: (0..externals)
            .map(|e| ExternalSpec {
                name: format!("ext{e}"),
                gateway: format!("198.51.{}.1/24", 100 + e),
            })
            .collect(),
        hosts: Vec::new(),
        tunnels: Vec::new(),
        layout: BTreeMap::new(),
    };
    let mut tunnel_bridges: Vec<(usize, usize)> = Vec::new();
    for (h, shape) in hosts.iter().enumerate().skip(1) {
        let (to, mine, theirs, kind, id) = shape.tunnel;
        let other = to % h;
        let (mine, theirs) = (mine % shape.bridges, theirs % hosts[other].bridges);
        tunnel_bridges.extend([(h, mine), (other, theirs)]);
        let (kind, key, vni) = match kind {
            0 => ("gre", None, None),
            1 => ("gre", Some(i64::from(id)), None),
            _ => ("vxlan", None, Some(i64::from(id % 16_777_216))),
        };
        spec.tunnels.push(TunnelSpec {
            kind: kind.into(),
            between: vec![format!("h{h}/br{mine}"), format!("h{other}/br{theirs}")],
            key,
            vni,
        });
    }
    let mut n = 0u32; // global nic counter: nic n is 10.(n/256).(n%256).1/24
    for (h, shape) in hosts.iter().enumerate() {
        let bridges = (0..shape.bridges)
            .map(|b| BridgeSpec {
                name: format!("br{b}"),
                uplink: match shape.uplinks[b] % (externals + 1) {
                    0 => None,
                    _ if tunnel_bridges.contains(&(h, b)) => None,
                    e => Some(format!("ext{}", e - 1)),
                },
            })
            .collect();
        let mut vms = Vec::new();
        for (v, (nics, has_gw)) in shape.vms.iter().enumerate() {
            let mut gateway = None;
            let nics = nics
                .iter()
                .map(|s| {
                    n += 1;
                    let net = format!("10.{}.{}", n / 256, n % 256);
                    let ip = match s.addr {
                        0 => None,
                        1 => {
                            if *has_gw {
                                gateway = Some(format!("{net}.254"));
                            }
                            Some(format!("{net}.1/24"))
                        }
                        _ if shape.dhcp.is_some() => Some("dhcp".to_string()),
                        _ => None,
                    };
                    NicSpec {
                        bridge: format!("br{}", s.bridge % shape.bridges),
                        vlan: s.vlan,
                        ip,
                        mac: s
                            .mac
                            .then(|| format!("52:54:00:00:{:02x}:{:02x}", n / 256, n % 256)),
                    }
                })
                .collect();
            vms.push(VmSpec {
                name: format!("vm{v}"),
                nics,
                gateway,
                routes: Vec::new(),
            });
        }
        let dhcp = shape
            .dhcp
            .map(|vlan| DhcpSpec {
                name: "dhcp0".into(),
                bridge: "br0".into(),
                vlan,
                ip: format!("192.168.{h}.2/24"),
                range: vec![format!("192.168.{h}.100"), format!("192.168.{h}.120")],
                gateway: Some(format!("192.168.{h}.254")),
            })
            .into_iter()
            .collect();
        let routers = shape
            .router
            .map(|(ifaces, nat)| RouterSpec {
                name: "r0".into(),
                interfaces: (0..ifaces)
                    .map(|i| RouterIfaceSpec {
                        name: format!("q{i}"),
                        bridge: format!("br{}", i % shape.bridges),
                        vlan: Some(100 + i as i64),
                        ip: format!("172.16.{}.1/24", h * 4 + i),
                    })
                    .collect(),
                gateway: Some(format!("172.16.{}.254", h * 4)),
                routes: vec![RouteSpec {
                    to: "10.200.0.0/16".into(),
                    via: format!("172.16.{}.253", h * 4),
                }],
                snat: if nat {
                    vec![SnatSpec {
                        source: "10.0.0.0/8".into(),
                        out: "q0".into(),
                    }]
                } else {
                    vec![]
                },
                dnat: if nat {
                    vec![DnatSpec {
                        in_: "q0".into(),
                        proto: "udp".into(),
                        port: 5353,
                        to: "10.0.1.1".into(),
                        to_port: 53,
                    }]
                } else {
                    vec![]
                },
            })
            .into_iter()
            .collect();
        spec.hosts.push(HostSpec {
            name: format!("h{h}"),
            underlay_ip: shape
                .explicit_underlay
                .then(|| format!("172.31.0.{}", h + 1)),
            agent: None,
            bridges,
            vms,
            dhcp,
            routers,
        });
    }
    for (i, (x, y)) in layout.into_iter().enumerate() {
        spec.layout.insert(format!("h{i}"), Position { x, y });
    }
    spec
}

fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![
        -5000.0..5000.0f64,
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
    ]
}

fn valid_spec() -> impl Strategy<Value = TopologySpec> {
    (
        "[a-z][a-z0-9-]{0,11}",
        0usize..=2,
        prop::collection::vec(host(), 1..=4),
        prop::collection::vec((coordinate(), coordinate()), 0..=3),
    )
        .prop_map(|(name, externals, hosts, layout)| build(name, externals, hosts, layout))
}

proptest! {
    #![proptest_config(Config { cases: 96, ..Config::default() })]

    #[test]
    fn generated_topologies_validate_and_round_trip(
        spec in valid_spec(),
        engine in prop::option::of(prop_oneof![Just(Engine::Ovs), Just(Engine::Ovn)]),
    ) {
        let spec = TopologySpec { engine, ..spec };
        let checked = match validate(&spec) {
            Ok(c) => c,
            // A design valid under OVS is refused under OVN only by OVN's own rules.
            Err(p) if engine == Some(Engine::Ovn) => {
                for e in p.iter().filter(|p| p.is_error()) {
                    prop_assert!(e.message.contains("under engine ovn"), "{e}");
                }
                return Ok(());
            }
            Err(p) => return Err(TestCaseError::fail(format!("{p:#?}"))),
        };
        for (syntax, text) in [("yaml", format::to_yaml(&spec)), ("json", format::to_json(&spec))] {
            let again = parse(&text).map_err(|p| TestCaseError::fail(format!("{syntax}: {p}\n{text}")))?;
            prop_assert_eq!(&again, &spec, "{} round trip changed the spec", syntax);
            let topo = load(&text).map_err(|p| TestCaseError::fail(format!("{p:#?}")))?.topology;
            prop_assert_eq!(&topo, &checked.topology, "{} round trip changed the topology", syntax);
        }
    }
}

/// One edit of a file's text.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(usize, u8),
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    /// Replace the n-th number in the text by this one.
    Number(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (
            any::<usize>(),
            prop_oneof![
                Just(":".to_string()),
                Just("\n".to_string()),
                Just("- ".to_string()),
                Just("{".to_string()),
                Just("]".to_string()),
                Just("&a ".to_string()),
                Just("*a".to_string()),
                "[ -~]{1,8}",
            ]
        )
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (
            any::<usize>(),
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                Just("99999999999999999999999999".to_string()),
                Just("-0".to_string()),
                Just("1e309".to_string()),
                Just(".nan".to_string()),
                (0u32..70000).prop_map(|n| n.to_string()),
            ]
        )
            .prop_map(|(i, s)| Mutation::Number(i, s)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let len = bytes.len().max(1);
    match m {
        Mutation::FlipByte(i, b) => {
            if !bytes.is_empty() {
                bytes[i % len] ^= b;
            }
        }
        Mutation::Delete(i, n) => {
            let start = (i % len).min(bytes.len());
            let end = (start + n).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Insert(i, s) => {
            let at = (i % len).min(bytes.len());
            bytes.splice(at..at, s.bytes());
        }
        Mutation::DuplicateLine(i) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let at = i % lines.len();
                lines.insert(at, lines[at]);
            }
            return lines.join("\n");
        }
        Mutation::Number(i, s) => {
            // Spans of ASCII digits: the numbers of the text.
            let mut spans = Vec::new();
            let mut start = None;
            for (k, b) in bytes.iter().enumerate() {
                match (b.is_ascii_digit(), start) {
                    (true, None) => start = Some(k),
                    (false, Some(st)) => {
                        spans.push((st, k));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(&(a, b)) = spans.get(i % spans.len().max(1)) {
                bytes.splice(a..b, s.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whatever the input, loading it returns a topology or problems that say something.
fn loads_or_explains(text: &str) -> Result<(), TestCaseError> {
    if let Err(problems) = load(text) {
        prop_assert!(!problems.is_empty(), "rejected without a problem");
        for p in &problems {
            prop_assert!(
                !p.message.trim().is_empty(),
                "empty message at {:?}",
                p.path
            );
        }
    }
    Ok(())
}

fn example_texts() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("examples/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(Config { cases: 256, ..Config::default() })]

    #[test]
    fn mutated_files_never_panic(
        spec in valid_spec(),
        example in any::<prop::sample::Index>(),
        use_example in any::<bool>(),
        as_json in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..=4),
    ) {
        let examples = example_texts();
        let mut text = match (use_example, as_json) {
            (true, _) => examples[example.index(examples.len())].clone(),
            (false, false) => format::to_yaml(&spec),
            (false, true) => format::to_json(&spec),
        };
        for m in &mutations {
            text = apply(&text, m);
        }
        loads_or_explains(&text)?;
    }

    #[test]
    fn mutated_json_values_never_panic(
        spec in valid_spec(),
        target in any::<prop::sample::Index>(),
        replacement in json_value(),
    ) {
        // Replace one node of a valid file's JSON tree by an arbitrary value.
        let mut value = serde_json::to_value(&spec).unwrap();
        let mut nodes = 0;
        count_nodes(&value, &mut nodes);
        replace_node(&mut value, target.index(nodes), &mut 0, &replacement);
        loads_or_explains(&value.to_string())?;
    }

    #[test]
    fn arbitrary_json_values_never_panic(value in json_value()) {
        loads_or_explains(&value.to_string())?;
        loads_or_explains(&serde_yaml_ng::to_string(&value).unwrap_or_default())?;
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("dhcp".to_string()),
            Just("gre".to_string()),
            Just("node1/br-in".to_string()),
            Just("10.0.0.1/24".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("version".to_string()),
                        Just("name".to_string()),
                        Just("hosts".to_string()),
                        Just("bridges".to_string()),
                        Just("vms".to_string()),
                        Just("tunnels".to_string()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn count_nodes(v: &serde_json::Value, n: &mut usize) {
    *n += 1;
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| count_nodes(x, n)),
        serde_json::Value::Object(o) => o.values().for_each(|x| count_nodes(x, n)),
        _ => {}
    }
}

/// Replace the `target`-th node (pre-order) of `v`.
fn replace_node(
    v: &mut serde_json::Value,
    target: usize,
    seen: &mut usize,
    with: &serde_json::Value,
) {
    if *seen == target {
        *v = with.clone();
        *seen += 1;
        return;
    }
    *seen += 1;
    match v {
        serde_json::Value::Array(a) => a
            .iter_mut()
            .for_each(|x| replace_node(x, target, seen, with)),
        serde_json::Value::Object(o) => o
            .values_mut()
            .for_each(|x| replace_node(x, target, seen, with)),
        _ => {}
    }
}

fn assert_rejected(text: &str, what: &str) {
    match parse(text) {
        Ok(_) => panic!("{what} was accepted"),
        Err(p) => assert!(!p.message.is_empty(), "{what}: empty message"),
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    const DEPTH: usize = 100_000;
    // libyaml is quadratic in flow depth (100k `[` would take minutes), so
    // deep brackets are refused on the raw text, before any parsing.
    for (text, what) in [
        ("[".repeat(DEPTH), "100k ["), // YAML flow sequences
        ("{".repeat(DEPTH), "100k {"), // JSON objects
        (
            format!("{{\"hosts\": {}", "[".repeat(DEPTH)),
            "100k [ inside JSON",
        ),
        (
            format!("version: 1\nname: a\nlayout: {}", "{a: ".repeat(DEPTH)),
            "100k { inside YAML",
        ),
    ] {
        match parse(&text) {
            Ok(_) => panic!("{what} was accepted"),
            Err(p) => assert!(p.message.contains("nested more than"), "{what}: {p:?}"),
        }
    }
    assert_rejected(&"- ".repeat(DEPTH), "100k nested block sequences");
}

#[test]
fn alias_bombs_are_rejected() {
    // Anchors hidden in a comment-free prefix are not allowed (unknown keys),
    // so the bomb sits where the deserializer must expand it: `hosts`.
    let mut text = String::from(
        "version: 1\nname: bomb\nlayout: {}\nhosts:\n- &a [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 0..12 {
        text += &format!(
            "- &b{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
            p = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            }
        );
    }
    assert_rejected(&text, "an alias bomb");
}

#[test]
fn binary_garbage_is_an_error() {
    // A fixed pseudo-random byte stream (xorshift), made text the way a server would.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_rejected(&String::from_utf8_lossy(&bytes), "binary garbage");
    assert_rejected("\0\0\0\0", "NUL bytes");
}

#[test]
fn files_over_the_limit_are_refused_before_parsing() {
    let huge = format!("version: 1\nname: big\n#{}\n", "x".repeat(MAX_FILE_BYTES));
    let p = parse(&huge).expect_err("a file over the limit");
    assert!(p.message.contains(&MAX_FILE_BYTES.to_string()), "{p}");
    // The limit itself is fine: a file just under it parses.
    let under = format!(
        "version: 1\nname: big\n#{}\n",
        "x".repeat(MAX_FILE_BYTES - 100)
    );
    assert!(parse(&under).is_ok());
}
