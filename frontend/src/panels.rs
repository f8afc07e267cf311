//! Side and bottom panels of the editor: properties of the selection, the
//! problems list, and the YAML text of the design.

use leptos::prelude::*;
use netloom_core::spec::*;
use netloom_core::{Problem, Severity};

use crate::model::{self, Elem};
use crate::state::Ctx;

/// A text input that commits on change (Enter or leaving the field). The
/// panel is redrawn over the same inputs when the selection or the design
/// changes, so the value is set as a property: once typed in, an input no
/// longer shows its `value` attribute.
fn field(
    label: &'static str,
    id: String,
    value: String,
    set: impl Fn(String) + 'static,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input type="text" id=id prop:value=value spellcheck="false"
                on:change=move |ev| set(event_target_value(&ev)) />
        </label>
    }
}

fn select(
    label: &'static str,
    id: String,
    options: Vec<(String, String)>,
    current: String,
    set: impl Fn(String) + 'static,
) -> impl IntoView {
    let opts = options
        .into_iter()
        .map(|(v, text)| {
            let sel = v == current;
            // A property too: the user's last pick would otherwise stay shown.
            view! { <option value=v prop:selected=sel>{text}</option> }
        })
        .collect_view();
    view! {
        <label class="field">
            <span>{label}</span>
            <select id=id on:change=move |ev| set(event_target_value(&ev))>{opts}</select>
        </label>
    }
}

fn num(ctx: Ctx, text: &str, what: &str) -> Option<Option<i64>> {
    let t = text.trim();
    if t.is_empty() {
        return Some(None);
    }
    match t.parse::<i64>() {
        Ok(n) => Some(Some(n)),
        Err(_) => {
            ctx.say(format!("{t:?} is not a number ({what})"), true);
            None
        }
    }
}

fn vlan_field(
    ctx: Ctx,
    id: String,
    value: Option<i64>,
    set: impl Fn(&mut TopologySpec, Option<i64>) + 'static,
) -> impl IntoView {
    field(
        "VLAN",
        id,
        value.map(|v| v.to_string()).unwrap_or_default(),
        move |t| match model::parse_vlan(&t) {
            Ok(v) => ctx.edit(None, |s| set(s, v)),
            Err(e) => ctx.say(e, true),
        },
    )
}

fn bridge_options(s: &TopologySpec, h: usize) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![(String::new(), "(none)".into())];
    v.extend(
        s.hosts[h]
            .bridges
            .iter()
            .map(|b| (b.name.clone(), b.name.clone())),
    );
    v
}

fn routes_editor(
    ctx: Ctx,
    routes: &[RouteSpec],
    get: impl Fn(&mut TopologySpec) -> &mut Vec<RouteSpec> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let rows = routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            view! {
                <div class="row">
                    {field("to", format!("prop-route{i}-to"), r.to.clone(), move |t| ctx.edit(None, |s| get(s)[i].to = t.trim().into()))}
                    {field("via", format!("prop-route{i}-via"), r.via.clone(), move |t| ctx.edit(None, |s| get(s)[i].via = t.trim().into()))}
                    <button class="small" title="remove route" on:click=move |_| ctx.edit(None, |s| { get(s).remove(i); })>"✕"</button>
                </div>
            }
        })
        .collect_view();
    view! {
        <fieldset>
            <legend>"Static routes"</legend>
            {rows}
            <button class="small" on:click=move |_| ctx.edit(None, |s| get(s).push(RouteSpec { to: String::new(), via: String::new() }))>"+ route"</button>
        </fieldset>
    }
}

fn name_field(ctx: Ctx, e: Elem, name: String) -> impl IntoView {
    field("Name", "prop-name".into(), name, move |t| {
        ctx.edit(None, |s| model::rename(s, e, &t))
    })
}

fn delete_button(ctx: Ctx, elems: Vec<Elem>) -> impl IntoView {
    view! {
        <button class="danger" id="prop-delete" on:click=move |_| {
            ctx.edit(None, |s| model::delete(s, &elems));
            ctx.sel.set(Vec::new());
        }>"Delete"</button>
    }
}

/// The problems that point into an element, for its panel.
fn own_problems(ctx: Ctx, e: Elem) -> impl IntoView {
    move || {
        ctx.check.with(|c| {
            c.problems
                .iter()
                .filter(|p| model::elem_of_path(&p.path) == Some(e))
                .map(|p| view! { <li class=sev_class(p)>{p.to_string()}</li> })
                .collect_view()
        })
    }
}

fn sev_class(p: &Problem) -> &'static str {
    match p.severity {
        Severity::Error => "problem error",
        Severity::Warning => "problem warning",
    }
}

#[component]
pub fn Properties() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    move || {
        let sel = ctx.sel.get();
        let s = ctx.spec.get();
        let body = match sel.as_slice() {
            [] => design_props(ctx, &s).into_any(),
            [one] => elem_props(ctx, &s, *one).into_any(),
            [owner, _link] if owner.owner() == *owner && _link.owner() == *owner => {
                elem_props(ctx, &s, *owner).into_any()
            }
            many => {
                let n = many.len();
                view! {
                    <p>{format!("{n} elements selected. Drag one to move them together.")}</p>
                    {delete_button(ctx, many.to_vec())}
                }
                .into_any()
            }
        };
        view! { <div class="props">{body}</div> }
    }
}

fn design_props(ctx: Ctx, s: &TopologySpec) -> impl IntoView {
    let counts = format!(
        "{} hosts, {} bridges, {} guests, {} externals, {} tunnels",
        s.hosts.len(),
        s.hosts.iter().map(|h| h.bridges.len()).sum::<usize>(),
        s.hosts
            .iter()
            .map(|h| h.vms.len() + h.dhcp.len() + h.routers.len())
            .sum::<usize>(),
        s.externals.len(),
        s.tunnels.len()
    );
    let engines = model::ENGINES
        .iter()
        .map(|(word, label)| (word.to_string(), label.to_string()))
        .collect();
    view! {
        <h3>"Design"</h3>
        {field("Name", "prop-design-name".into(), s.name.clone(), move |t| ctx.edit(None, |s| s.name = t.trim().into()))}
        {field("Underlay", "prop-underlay".into(), s.underlay.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.underlay = model::opt(&t)))}
        {select("Engine", "prop-engine".into(), engines, s.engine.unwrap_or_default().word().into(), move |v| ctx.edit(None, |s| s.engine = model::engine_of(&v)))}
        <p class="muted">"OVN: each host a chassis, each segment a logical switch, hosts joined by Geneve. What OVN cannot express is marked on the canvas; hover a mark for why."</p>
        <p class="muted">{counts}</p>
        <p class="muted">"Select an element to edit it. Ctrl+Z / Ctrl+Shift+Z: undo / redo. Delete: remove the selection."</p>
    }
}

fn elem_props(ctx: Ctx, s: &TopologySpec, e: Elem) -> AnyView {
    let exists = e.key(s).is_some()
        || matches!(e, Elem::Tunnel(t) if t < s.tunnels.len())
        || e.owner().key(s).is_some();
    if !exists {
        return view! { <p class="muted">"Nothing selected."</p> }.into_any();
    }
    let title = format!("{} {}", kind_title(e), e.owner().label(s));
    let body = match e.owner() {
        Elem::Host(h) => host_props(ctx, s, h).into_any(),
        Elem::Bridge(h, b) => bridge_props(ctx, s, h, b).into_any(),
        Elem::Vm(h, v) => vm_props(ctx, s, h, v).into_any(),
        Elem::Router(h, r) => router_props(ctx, s, h, r).into_any(),
        Elem::Dhcp(h, d) => dhcp_props(ctx, s, h, d).into_any(),
        Elem::Ext(x) => ext_props(ctx, s, x).into_any(),
        Elem::Tunnel(t) => tunnel_props(ctx, s, t).into_any(),
        _ => ().into_any(),
    };
    let del = match e {
        Elem::Nic(..) | Elem::RIface(..) | Elem::DhcpLink(..) | Elem::Uplink(..) => vec![e],
        _ => vec![e.owner()],
    };
    let del_label = if del[0] == e.owner() {
        ""
    } else {
        " (this link)"
    };
    view! {
        <h3>{title}</h3>
        {body}
        <ul class="own-problems">{own_problems(ctx, e.owner())}</ul>
        <div class="row">{delete_button(ctx, del)}<span class="muted">{del_label}</span></div>
    }
    .into_any()
}

fn host_props(ctx: Ctx, s: &TopologySpec, h: usize) -> impl IntoView {
    let host = &s.hosts[h];
    view! {
        {name_field(ctx, Elem::Host(h), host.name.clone())}
        {field("Underlay IP", "prop-underlay-ip".into(), host.underlay_ip.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.hosts[h].underlay_ip = model::opt(&t)))}
        {field("Agent URL", "prop-agent".into(), host.agent.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.hosts[h].agent = model::opt(&t)))}
        <p class="muted">"Empty agent: the host is emulated on the server's machine (sandbox)."</p>
    }
}

fn bridge_props(ctx: Ctx, s: &TopologySpec, h: usize, b: usize) -> impl IntoView {
    let br = &s.hosts[h].bridges[b];
    let mut opts = vec![(String::new(), "(no uplink)".to_string())];
    opts.extend(s.externals.iter().map(|x| (x.name.clone(), x.name.clone())));
    view! {
        {name_field(ctx, Elem::Bridge(h, b), br.name.clone())}
        {select("Uplink", "prop-uplink".into(), opts, br.uplink.clone().unwrap_or_default(), move |v| ctx.edit(None, |s| s.hosts[h].bridges[b].uplink = model::opt(&v)))}
    }
}

fn dhcp_props(ctx: Ctx, s: &TopologySpec, h: usize, d: usize) -> impl IntoView {
    let dh = &s.hosts[h].dhcp[d];
    let r0 = dh.range.first().cloned().unwrap_or_default();
    let r1 = dh.range.get(1).cloned().unwrap_or_default();
    let set_range = move |i: usize, t: String| {
        ctx.edit(None, move |s| {
            let r = &mut s.hosts[h].dhcp[d].range;
            r.resize(2, String::new());
            r[i] = t.trim().into();
        })
    };
    view! {
        {name_field(ctx, Elem::Dhcp(h, d), dh.name.clone())}
        {select("Bridge", "prop-bridge".into(), bridge_options(s, h), dh.bridge.clone(), move |v| ctx.edit(None, |s| s.hosts[h].dhcp[d].bridge = v))}
        {vlan_field(ctx, "prop-vlan".into(), dh.vlan, move |s, v| s.hosts[h].dhcp[d].vlan = v)}
        {field("Address", "prop-ip".into(), dh.ip.clone(), move |t| ctx.edit(None, |s| s.hosts[h].dhcp[d].ip = t.trim().into()))}
        {field("Range from", "prop-range0".into(), r0, move |t| set_range(0, t))}
        {field("Range to", "prop-range1".into(), r1, move |t| set_range(1, t))}
        {field("Gateway option", "prop-gateway".into(), dh.gateway.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.hosts[h].dhcp[d].gateway = model::opt(&t)))}
    }
}

fn ext_props(ctx: Ctx, s: &TopologySpec, x: usize) -> impl IntoView {
    let ext = &s.externals[x];
    view! {
        {name_field(ctx, Elem::Ext(x), ext.name.clone())}
        {field("Gateway", "prop-gateway".into(), ext.gateway.clone(), move |t| ctx.edit(None, |s| s.externals[x].gateway = t.trim().into()))}
        <p class="muted">"The upstream router's address with the segment's prefix, like 198.51.100.1/24."</p>
    }
}

fn tunnel_props(ctx: Ctx, s: &TopologySpec, t: usize) -> impl IntoView {
    let tun = &s.tunnels[t];
    let is_vxlan = tun.kind == "vxlan";
    let id_value = if is_vxlan { tun.vni } else { tun.key };
    let types = vec![
        ("gre".to_string(), "GRE".to_string()),
        ("vxlan".to_string(), "VXLAN".to_string()),
    ];
    view! {
        <p>{tun.between.join(" ↔ ")}</p>
        {select("Type", "prop-tunnel-type".into(), types, tun.kind.clone(), move |v| ctx.edit(None, |s| {
            let tu = &mut s.tunnels[t];
            // The identifier carries over: a GRE key becomes the VNI and back.
            let id = tu.key.or(tu.vni);
            tu.kind = v.clone();
            if v == "vxlan" { tu.vni = id.or(Some(100)); tu.key = None; } else { tu.key = id; tu.vni = None; }
        }))}
        {field(if is_vxlan { "VNI" } else { "GRE key" }, "prop-tunnel-id".into(), id_value.map(|k| k.to_string()).unwrap_or_default(), move |txt| {
            if let Some(n) = num(ctx, &txt, "tunnel key / VNI") {
                ctx.edit(None, |s| { if s.tunnels[t].kind == "vxlan" { s.tunnels[t].vni = n } else { s.tunnels[t].key = n } })
            }
        })}
    }
}

fn kind_title(e: Elem) -> &'static str {
    match e.owner() {
        Elem::Host(_) => "Host",
        Elem::Bridge(..) => "Bridge",
        Elem::Vm(..) => "VM",
        Elem::Dhcp(..) => "DHCP server",
        Elem::Router(..) => "Router",
        Elem::Ext(_) => "External network",
        Elem::Tunnel(_) => "Tunnel",
        _ => "",
    }
}

fn vm_props(ctx: Ctx, s: &TopologySpec, h: usize, v: usize) -> impl IntoView {
    let vm = &s.hosts[h].vms[v];
    let nics = vm
        .nics
        .iter()
        .enumerate()
        .map(|(n, nic)| {
            view! {
                <fieldset class="nic" id=format!("prop-nic{n}")>
                    <legend>{format!("eth{n}")}</legend>
                    {select("Bridge", format!("prop-nic{n}-bridge"), bridge_options(s, h), nic.bridge.clone(), move |b| ctx.edit(None, |s| s.hosts[h].vms[v].nics[n].bridge = b))}
                    {vlan_field(ctx, format!("prop-nic{n}-vlan"), nic.vlan, move |s, x| s.hosts[h].vms[v].nics[n].vlan = x)}
                    {field("IP (CIDR or dhcp)", format!("prop-nic{n}-ip"), nic.ip.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.hosts[h].vms[v].nics[n].ip = model::opt(&t)))}
                    {field("MAC", format!("prop-nic{n}-mac"), nic.mac.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.hosts[h].vms[v].nics[n].mac = model::opt(&t)))}
                    <button class="small" on:click=move |_| ctx.edit(None, |s| { s.hosts[h].vms[v].nics.remove(n); })>"remove nic"</button>
                </fieldset>
            }
        })
        .collect_view();
    view! {
        {name_field(ctx, Elem::Vm(h, v), vm.name.clone())}
        {nics}
        <p class="muted">"Add a nic: drag from the vm's handle to a bridge."</p>
        {field("Gateway", "prop-gateway".into(), vm.gateway.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.hosts[h].vms[v].gateway = model::opt(&t)))}
        {routes_editor(ctx, &vm.routes, move |s| &mut s.hosts[h].vms[v].routes)}
    }
}

fn router_props(ctx: Ctx, s: &TopologySpec, h: usize, r: usize) -> impl IntoView {
    let rt = &s.hosts[h].routers[r];
    let ifnames: Vec<(String, String)> = rt
        .interfaces
        .iter()
        .map(|i| (i.name.clone(), i.name.clone()))
        .collect();
    let ifaces = rt
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, ifc)| {
            view! {
                <fieldset class="nic">
                    <legend>{ifc.name.clone()}</legend>
                    {field("Name", format!("prop-if{i}-name"), ifc.name.clone(), move |t| ctx.edit(None, |s| model::rename_iface(s, h, r, i, &t)))}
                    {select("Bridge", format!("prop-if{i}-bridge"), bridge_options(s, h), ifc.bridge.clone(), move |b| ctx.edit(None, |s| s.hosts[h].routers[r].interfaces[i].bridge = b))}
                    {vlan_field(ctx, format!("prop-if{i}-vlan"), ifc.vlan, move |s, x| s.hosts[h].routers[r].interfaces[i].vlan = x)}
                    {field("IP (CIDR)", format!("prop-if{i}-ip"), ifc.ip.clone(), move |t| ctx.edit(None, |s| s.hosts[h].routers[r].interfaces[i].ip = t.trim().into()))}
                    <button class="small" on:click=move |_| ctx.edit(None, |s| { s.hosts[h].routers[r].interfaces.remove(i); })>"remove interface"</button>
                </fieldset>
            }
        })
        .collect_view();
    let snat = snat_rows(ctx, rt, h, r, &ifnames);
    let dnat = dnat_rows(ctx, rt, h, r, &ifnames);
    let first_if = rt
        .interfaces
        .first()
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let first_if2 = first_if.clone();
    view! {
        {name_field(ctx, Elem::Router(h, r), rt.name.clone())}
        {ifaces}
        <p class="muted">"Add an interface: drag from the router's handle to a bridge."</p>
        {field("Gateway", "prop-gateway".into(), rt.gateway.clone().unwrap_or_default(), move |t| ctx.edit(None, |s| s.hosts[h].routers[r].gateway = model::opt(&t)))}
        {routes_editor(ctx, &rt.routes, move |s| &mut s.hosts[h].routers[r].routes)}
        <fieldset>
            <legend>"SNAT (masquerade)"</legend>
            {snat}
            <button class="small" on:click=move |_| ctx.edit(None, |s| s.hosts[h].routers[r].snat.push(SnatSpec { source: String::new(), out: first_if.clone() }))>"+ snat"</button>
        </fieldset>
        <fieldset>
            <legend>"DNAT (port forwards)"</legend>
            {dnat}
            <button class="small" on:click=move |_| ctx.edit(None, |s| s.hosts[h].routers[r].dnat.push(DnatSpec { in_: first_if2.clone(), proto: "tcp".into(), port: 8080, to: String::new(), to_port: 80 }))>"+ dnat"</button>
        </fieldset>
    }
}

/// A router's SNAT rules; `ifnames`: its interfaces, as (value, label).
fn snat_rows(
    ctx: Ctx,
    rt: &RouterSpec,
    h: usize,
    r: usize,
    ifnames: &[(String, String)],
) -> impl IntoView {
    rt.snat
        .iter()
        .enumerate()
        .map(|(i, sn)| {
            let ifn = ifnames.to_vec();
            view! {
                <div class="row">
                    {field("source", format!("prop-snat{i}-source"), sn.source.clone(), move |t| ctx.edit(None, |s| s.hosts[h].routers[r].snat[i].source = t.trim().into()))}
                    {select("out", format!("prop-snat{i}-out"), ifn, sn.out.clone(), move |t| ctx.edit(None, |s| s.hosts[h].routers[r].snat[i].out = t))}
                    <button class="small" on:click=move |_| ctx.edit(None, |s| { s.hosts[h].routers[r].snat.remove(i); })>"✕"</button>
                </div>
            }
        })
        .collect_view()
}

/// A router's port forwards; `ifnames`: its interfaces, as (value, label).
fn dnat_rows(
    ctx: Ctx,
    rt: &RouterSpec,
    h: usize,
    r: usize,
    ifnames: &[(String, String)],
) -> impl IntoView {
    rt.dnat
        .iter()
        .enumerate()
        .map(|(i, dn)| {
            let ifn = ifnames.to_vec();
            let protos = vec![("tcp".to_string(), "tcp".to_string()), ("udp".to_string(), "udp".to_string())];
            view! {
                <div class="dnat">
                    {select("in", format!("prop-dnat{i}-in"), ifn, dn.in_.clone(), move |t| ctx.edit(None, |s| s.hosts[h].routers[r].dnat[i].in_ = t))}
                    {select("proto", format!("prop-dnat{i}-proto"), protos, dn.proto.clone(), move |t| ctx.edit(None, |s| s.hosts[h].routers[r].dnat[i].proto = t))}
                    {field("port", format!("prop-dnat{i}-port"), dn.port.to_string(), move |t| if let Some(Some(n)) = num(ctx, &t, "port") { ctx.edit(None, |s| s.hosts[h].routers[r].dnat[i].port = n) })}
                    {field("to", format!("prop-dnat{i}-to"), dn.to.clone(), move |t| ctx.edit(None, |s| s.hosts[h].routers[r].dnat[i].to = t.trim().into()))}
                    {field("to port", format!("prop-dnat{i}-toport"), dn.to_port.to_string(), move |t| if let Some(Some(n)) = num(ctx, &t, "port") { ctx.edit(None, |s| s.hosts[h].routers[r].dnat[i].to_port = n) })}
                    <button class="small" on:click=move |_| ctx.edit(None, |s| { s.hosts[h].routers[r].dnat.remove(i); })>"remove"</button>
                </div>
            }
        })
        .collect_view()
}

#[component]
pub fn ProblemsPanel(yaml_error: RwSignal<Option<Problem>>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let list = move || {
        let mut all: Vec<Problem> = yaml_error.get().into_iter().collect();
        ctx.check.with(|c| all.extend(c.problems.iter().cloned()));
        if all.is_empty() {
            return view! { <li class="ok" id="no-problems">"No problems: the design is valid."</li> }.into_any();
        }
        all.into_iter()
            .map(|p| {
                let target = model::elem_of_path(&p.path);
                let text = p.to_string();
                view! {
                    <li class=sev_class(&p) on:click=move |_| {
                        if let Some(e) = target { ctx.select_only(e) }
                    }>{text}</li>
                }
            })
            .collect_view()
            .into_any()
    };
    let count = move || {
        let n = ctx.check.with(|c| c.problems.len()) + yaml_error.with(|y| y.is_some() as usize);
        format!("Problems ({n})")
    };
    view! {
        <section class="panel problems">
            <h4>{count}</h4>
            <ul id="problems">{list}</ul>
        </section>
    }
}

/// The design as YAML; typing here edits the design (each valid parse is
/// applied; while the text does not parse, the error is listed instead).
#[component]
pub fn YamlPanel(yaml_error: RwSignal<Option<Problem>>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let text = RwSignal::new(String::new());
    // The spec the text shows, so an edit made here is not written back over the typing.
    let shown = StoredValue::new(None::<TopologySpec>);
    Effect::new(move |_| {
        let s = ctx.spec.get();
        if shown.with_value(|x| x.as_ref() != Some(&s)) {
            text.set(netloom_core::format::to_yaml(&s));
            shown.set_value(Some(s));
            yaml_error.set(None);
        }
    });
    let on_input = move |ev| {
        let t = event_target_value(&ev);
        text.set(t.clone());
        match netloom_core::parse(&t) {
            Ok(spec) => {
                yaml_error.set(None);
                shown.set_value(Some(spec.clone()));
                ctx.edit(Some("yaml"), |s| *s = spec);
            }
            Err(p) => yaml_error.set(Some(Problem::error("yaml", p.to_string()))),
        }
    };
    view! {
        <section class="panel yaml">
            <h4>"YAML"</h4>
            <textarea id="yaml" spellcheck="false" prop:value=move || text.get() on:input=on_input></textarea>
        </section>
    }
}
