//! The Simulate tab: pick a probe and run it ([`Sim::run`]), play it hop by
//! hop, read its route, its events and each header of the packet; the
//! reachability matrix below ([`crate::matrix`]).

use leptos::prelude::*;
use netloom_core::topology::Topology;
use netloom_core::trace::{Action, Layer};

use crate::matrix::Matrix;
use crate::sim::{class_of, Asked, Sim};
use crate::state::Ctx;

const CLASSES: [&str; 6] = ["arp", "icmp", "tcp", "udp", "dhcp", "other"];

/// Senders and destinations offered: vms, routers and dhcp servers (by the
/// name `Probe::parse` accepts), and external networks.
fn endpoints(topo: &Topology) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = (0..topo.guests.len())
        .map(|g| {
            let guest = &topo.guests[g];
            let name = if guest.is_vm() {
                topo.vm_label(g)
            } else {
                format!("{}/{}", topo.hosts[guest.host].name, guest.name)
            };
            (name, guest.is_vm())
        })
        .collect();
    out.extend(topo.externals.iter().map(|e| (e.name.clone(), true)));
    out
}

#[component]
pub fn SimPanel() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    // The fix boxes under the trace and under the matrix share it.
    provide_context(crate::fix_panel::Fixer::new(ctx, sim));
    let real = crate::real_path::Real::new();
    provide_context(real);
    // An edit of the design makes the last real path stale.
    Effect::new(move |_| {
        ctx.spec.track();
        real.forget();
    });
    let run = move |_| match asked(sim) {
        Ok(a) => sim.run(ctx, a),
        Err(e) => sim.error.set(Some(e)),
    };
    let run_real = move |_| match asked(sim) {
        Ok(a) => real.ask(ctx, a),
        Err(e) => sim.error.set(Some(e)),
    };
    view! {
        <div class="simpanel">
            <h3>"Simulation"</h3>
            <Endpoints />
            <label class="field"><span>"Destination"</span>
                <input id="sim-to" list="sim-targets" placeholder="vm name or address" prop:value=move || sim.to.get()
                    on:change=move |ev| sim.to.set(event_target_value(&ev)) />
            </label>
            <ProbeFields />
            <div class="row">
                <button id="sim-run" class="primary" on:click=run>"Simulate"</button>
                <button id="sim-real" disabled=move || real.busy.get() title="Send the probe for real on the applied design and compare, frame by frame" on:click=run_real>"Real path"</button>
                {move || sim.simulating.get().then(|| view! { <span class="muted" id="sim-busy">"simulating…"</span> })}
                <label class="speed">"speed"
                        <input type="range" id="sim-speed" min="0.25" max="8" step="0.25" prop:value=move || sim.speed.get().to_string()
                            on:input=move |ev| sim.speed.set(event_target_value(&ev).parse().unwrap_or(1.5)) />
                    </label>
            </div>
            {move || sim.error.get().map(|e| view! { <p class="error" id="sim-error">{e}</p> })}
            <AskedList />
            <Route />
            <crate::fix_panel::FixBox at="sim" />
            <crate::real_path::RealPathBox />
            <Player />
            <Events />
            <Inspector />
            <Matrix />
        </div>
    }
}

/// The probe the fields describe, or what is wrong with them.
fn asked(sim: Sim) -> Result<Asked, String> {
    let proto = sim.proto.get_untracked();
    let sized = matches!(proto.as_str(), "icmp" | "udp");
    let size = if sized {
        sim.size.get_untracked()
    } else {
        String::new()
    };
    Ok(Asked {
        from: sim.from.get_untracked(),
        to: sim.to.get_untracked(),
        proto: proto_value(&proto, &sim.port.get_untracked()),
        size: number("size", &size)?,
        ttl: number("ttl", &sim.ttl.get_untracked())?,
    })
}

/// The protocol as `Probe::parse` takes it: tcp and udp with their port.
fn proto_value(proto: &str, port: &str) -> String {
    if proto == "tcp" || proto == "udp" {
        format!("{proto}:{}", port.trim())
    } else {
        proto.to_string()
    }
}

/// A number field of the probe: empty is the default; anything else must be a number.
fn number(what: &str, v: &str) -> Result<Option<u16>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("{what} {v:?} is not a number"))
}

/// The Source menu (senders of the valid design) and the destinations offered.
#[component]
fn Endpoints() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let topo = Memo::new(move |_| ctx.check.with(|c| c.topo.clone()));
    move || {
        topo.with(|t| {
            let Some(t) = t else {
                return view! { <p class="error">"The design has errors: simulation needs a valid design (see Problems)."</p> }.into_any();
            };
            let eps = endpoints(t);
            if sim.from.with_untracked(String::is_empty) || !eps.iter().any(|(n, _)| sim.from.with_untracked(|f| f == n)) {
                sim.from.set(eps.iter().find(|(_, s)| *s).map(|(n, _)| n.clone()).unwrap_or_default());
            }
            let froms = eps
                .iter()
                .filter(|(_, s)| *s)
                .map(|(n, _)| {
                    let sel = sim.from.with_untracked(|f| f == n);
                    view! { <option value=n.clone() selected=sel>{n.clone()}</option> }
                })
                .collect_view();
            let targets = eps
                .iter()
                .map(|(n, _)| view! { <option value=n.clone()></option> })
                .collect_view();
            view! {
                <label class="field"><span>"Source"</span>
                    // Follows the sender set elsewhere too (a click on a matrix cell).
                    <select id="sim-from" prop:value=move || sim.from.get() on:change=move |ev| sim.from.set(event_target_value(&ev))>{froms}</select>
                </label>
                <datalist id="sim-targets">{targets}</datalist>
            }
            .into_any()
        })
    }
}

/// Protocol, port, size and TTL of the probe.
#[component]
fn ProbeFields() -> impl IntoView {
    let sim = expect_context::<Sim>();
    view! {
        <div class="row">
            <label class="field"><span>"Protocol"</span>
                <select id="sim-proto" prop:value=move || sim.proto.get() on:change=move |ev| sim.proto.set(event_target_value(&ev))>
                    <option value="icmp">"icmp (ping)"</option>
                    <option value="arp">"arp"</option>
                    <option value="tcp">"tcp"</option>
                    <option value="udp">"udp"</option>
                    <option value="dhcp">"dhcp"</option>
                </select>
            </label>
            <Show when=move || matches!(sim.proto.get().as_str(), "tcp" | "udp")>
                <label class="field port"><span>"Port"</span>
                    <input id="sim-port" prop:value=move || sim.port.get() on:change=move |ev| sim.port.set(event_target_value(&ev)) />
                </label>
            </Show>
            <Show when=move || matches!(sim.proto.get().as_str(), "icmp" | "udp")>
                <label class="field port" title="IPv4 length of the packet, 28..1500 (default 84 for icmp, as ping)"><span>"Size"</span>
                    <input id="sim-size" placeholder="84" prop:value=move || sim.size.get() on:change=move |ev| sim.size.set(event_target_value(&ev)) />
                </label>
            </Show>
            <label class="field port" title="TTL of the request, 1..255 (default 64)"><span>"TTL"</span>
                <input id="sim-ttl" placeholder="64" prop:value=move || sim.ttl.get() on:change=move |ev| sim.ttl.set(event_target_value(&ev)) />
            </label>
        </div>
    }
}

#[component]
fn Player() -> impl IntoView {
    let sim = expect_context::<Sim>();
    move || {
        let p = sim.played.get()?;
        let n = p.keys.len();
        let delivered = p.trace.disposition.is_delivered();
        let summary = p.trace.disposition.summary();
        let probe = format!(
            "{} {} → {}",
            p.trace.probe.proto, p.trace.probe.from, p.trace.probe.to
        );
        Some(view! {
            <div class="player">
                <p class="probe">{probe}</p>
                <div class="row controls">
                    <button id="sim-reset" title="back to the start" on:click=move |_| sim.reset()>"Reset"</button>
                    <button id="sim-back" title="step back" on:click=move |_| sim.step(-1.0)>"◀ Back"</button>
                    {move || if sim.playing.get() {
                        view! { <button id="sim-pause" title="pause" on:click=move |_| sim.playing.set(false)>"Pause"</button> }.into_any()
                    } else {
                        view! { <button id="sim-play" title="play" on:click=move |_| sim.play()>"Play"</button> }.into_any()
                    }}
                    <button id="sim-forward" title="step forward" on:click=move |_| sim.step(1.0)>"Step ▶"</button>

                </div>
                <p class="muted" id="sim-position">{move || format!("hop {} of {n}", (sim.cursor.get().floor() as usize + 1).min(n))}</p>
                <Show when=move || { sim.cursor.get() >= (n.saturating_sub(1)) as f64 }>
                    <p id="sim-result" class=if delivered { "result ok" } else { "result bad" }
                        data-outcome=if delivered { "delivered" } else { "dropped" }>
                        {if delivered { format!("Delivered: {summary}") } else { format!("Dropped: {summary}") }}
                    </p>
                </Show>
            </div>
        })
    }
}

/// The probes run so far, newest first, each to run again (with the
/// panel's fields set to it).
#[component]
fn AskedList() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let again = move |a: Asked| {
        sim.from.set(a.from.clone());
        sim.to.set(a.to.clone());
        match a.proto.split_once(':') {
            Some((p, port)) => {
                sim.proto.set(p.into());
                sim.port.set(port.into());
            }
            None => sim.proto.set(a.proto.clone()),
        }
        sim.size
            .set(a.size.map(|n| n.to_string()).unwrap_or_default());
        sim.ttl
            .set(a.ttl.map(|n| n.to_string()).unwrap_or_default());
        sim.run(ctx, a);
    };
    move || {
        let asked = sim.asked.get();
        (!asked.is_empty()).then(|| {
            view! {
                <details class="asked" id="probe-list" open=true>
                    <summary>{format!("Probes ({})", asked.len())}</summary>
                    <ol>{asked.into_iter().map(|a| {
                        let label = a.label();
                        view! {
                            <li><button class="small rerun" title="run again" on:click=move |_| again(a.clone())>"Run"</button>" "{label}</li>
                        }
                    }).collect_view()}</ol>
                </details>
            }
        })
    }
}

/// The played probe's path as traceroute prints it: the routers that
/// forwarded it, then who took it, or where it was dropped.
#[component]
fn Route() -> impl IntoView {
    let sim = expect_context::<Sim>();
    move || {
        sim.played.with(|p| {
            let p = p.as_ref()?;
            let lines = p.trace.route();
            Some(view! {
                <div class="route" id="sim-route">
                    <h4>"Route"</h4>
                    <ol>{lines.into_iter().map(|l| view! {
                        <li><b>{l.node}</b>" "<span class="muted">{l.detail}</span></li>
                    }).collect_view()}</ol>
                </div>
            })
        })
    }
}

#[component]
fn Events() -> impl IntoView {
    let sim = expect_context::<Sim>();
    let filters = CLASSES
        .into_iter()
        .map(|c| {
            view! {
                <label class="filter">
                    <input type="checkbox" prop:checked=move || !sim.hidden.with(|h| h.contains(c))
                        on:change=move |_| sim.hidden.update(|h| { if !h.remove(c) { h.insert(c); } }) />
                    {c}
                </label>
            }
        })
        .collect_view();
    let rows = move || {
        let p = sim.played.get()?;
        let reached = sim.cursor.get().floor() as usize;
        let hidden = sim.hidden.get();
        let picked = sim.picked.get();
        Some(
            p.trace
                .hops
                .iter()
                .enumerate()
                .flat_map(|(h, hop)| {
                    hop.steps
                        .iter()
                        .enumerate()
                        .map(move |(s, st)| (h, s, hop, st))
                })
                .filter(|(_, _, _, st)| !hidden.contains(class_of(&st.packet)))
                .map(|(h, s, hop, st)| {
                    let class = format!(
                        "event {}{}{}",
                        class_of(&st.packet),
                        if h <= reached { " reached" } else { "" },
                        if picked == Some((h, s)) || (picked.is_none() && h == reached) {
                            " current"
                        } else {
                            ""
                        }
                    );
                    let drop = st.action == Action::Drop;
                    view! {
                        <tr class=class class:drop=drop data-hop=h.to_string() on:click=move |_| {
                            sim.playing.set(false);
                            sim.cursor.set(h as f64);
                            sim.picked.set(Some((h, s)));
                        }>
                            <td>{h + 1}</td>
                            <td>{hop.node.clone()}</td>
                            <td class="action">{st.action.as_str()}</td>
                            <td>{class_of(&st.packet)}</td>
                        </tr>
                    }
                })
                .collect_view(),
        )
    };
    view! {
        <Show when=move || sim.played.with(Option::is_some)>
            <h4>"Events"</h4>
            <div class="filters">{filters.clone()}</div>
            <div class="events-scroll">
                <table class="events" id="sim-events">
                    <thead><tr><th>"#"</th><th>"at"</th><th>"action"</th><th>"type"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </Show>
    }
}

fn layer_title(l: &Layer) -> &'static str {
    match l {
        Layer::Ethernet { .. } => "Ethernet",
        Layer::Dot1q { .. } => "802.1Q",
        Layer::Arp { .. } => "ARP",
        Layer::Ipv4 { .. } => "IPv4",
        Layer::Gre { .. } => "GRE",
        Layer::Udp { .. } => "UDP",
        Layer::Vxlan { .. } => "VXLAN",
        Layer::Geneve { .. } => "Geneve",
        Layer::Icmp { .. } => "ICMP",
        Layer::Tcp { .. } => "TCP",
        Layer::Dhcp { .. } => "DHCP",
        Layer::Ipv6 { .. } => "IPv6",
        Layer::Unknown { .. } => "Not decoded",
    }
}

/// Fields of a header as name → value, in the order serde writes them.
fn layer_fields(l: &Layer) -> Vec<(String, String)> {
    let v = serde_json::to_value(l).unwrap_or_default();
    let Some(obj) = v.as_object() else {
        return Vec::new();
    };
    obj.iter()
        .filter(|(k, _)| k.as_str() != "layer")
        .map(|(k, v)| {
            let shown = match (k.as_str(), v) {
                ("ethertype" | "protocol", serde_json::Value::Number(n))
                    if n.as_u64().unwrap_or(0) > 255 =>
                {
                    format!("0x{:04x}", n.as_u64().unwrap_or(0))
                }
                (_, serde_json::Value::String(s)) => s.clone(),
                (_, other) => other.to_string(),
            };
            (k.replace('_', " "), shown)
        })
        .collect()
}

#[component]
fn Inspector() -> impl IntoView {
    let sim = expect_context::<Sim>();
    move || {
        let p = sim.played.get()?;
        let (h, s) = sim.picked.get().unwrap_or_else(|| {
            let h = (sim.cursor.get().floor() as usize).min(p.trace.hops.len().saturating_sub(1));
            (
                h,
                p.trace
                    .hops
                    .get(h)
                    .map(|x| x.steps.len().saturating_sub(1))
                    .unwrap_or(0),
            )
        });
        let hop = p.trace.hops.get(h)?;
        let step = hop.steps.get(s)?;
        Some(view! {
            <div class="inspector" id="inspector">
                <h4>{format!("At {} ({})", hop.node, hop.kind.as_str())}</h4>
                <p class="decision"><b>{step.action.as_str()}</b>": "{step.detail.clone()}</p>
                {layer_tree(&step.packet)}
            </div>
        })
    }
}

/// A packet's headers, outermost first, each a fold of its fields: how the
/// inspector shows a simulated hop and the Capture tab a captured packet.
pub fn layer_tree(layers: &[Layer]) -> impl IntoView {
    layers
        .iter()
        .map(|l| {
            let rows = layer_fields(l)
                .into_iter()
                .map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> })
                .collect_view();
            view! {
                <details open class="layer">
                    <summary>{layer_title(l)}<span class="muted">{format!("  {l}")}</span></summary>
                    <table>{rows}</table>
                </details>
            }
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_udp_carry_their_port() {
        assert_eq!(proto_value("tcp", " 80 "), "tcp:80");
        assert_eq!(proto_value("udp", "53"), "udp:53");
        assert_eq!(proto_value("icmp", "80"), "icmp");
    }

    #[test]
    fn an_empty_field_is_the_default_and_text_an_error() {
        assert_eq!(number("ttl", " "), Ok(None));
        assert_eq!(number("ttl", " 2 "), Ok(Some(2)));
        assert_eq!(
            number("size", "big"),
            Err("size \"big\" is not a number".into())
        );
        assert!(number("size", "70000").is_err());
    }
}
