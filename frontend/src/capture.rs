//! The Capture tab: a live capture on one link of the design stored on the
//! server and applied there (`GET /api/designs/{id}/capture`), read as it
//! arrives: the packets with a filter, the picked packet's headers as the
//! Simulate inspector shows a hop ([`layer_tree`]), its bytes in hex; Stop,
//! and Download of the pcap received so far. A right-click on a guest's nic,
//! a tunnel, a bridge or an uplink on the canvas starts it ([`Ctx::capture_on`]).

use leptos::prelude::*;
use leptos::task::spawn_local;
use netloom_core::capture::{decode, pcap, Link};
use netloom_core::topology::Topology;
use netloom_core::trace::{Headers, Layer};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::api::{error_message, js_err};
use crate::model::Elem;
use crate::sim_panel::layer_tree;
use crate::state::Ctx;

/// Packets one capture keeps; the server stops there too.
const MAX_PACKETS: usize = 5000;
/// How long one capture runs at most (the server's limit is 600 s).
const SECONDS: u32 = 600;

/// The link a canvas element is, as the API names it (`vm1:eth0`,
/// `node1/r1:outside`, `tunnels[0]`, a whole bridge `node1/br-in`, an uplink
/// `node1/br-ex:uplink`); `None` for what no capture listens on.
pub fn link_label(topo: &Topology, e: Elem) -> Option<String> {
    // The topology keeps each host's bridges in the file's order.
    let bridge = |h: usize, b: usize| {
        (0..topo.bridges.len())
            .filter(|&i| topo.bridges[i].host == h)
            .nth(b)
    };
    let (path, iface) = match e {
        Elem::Tunnel(t) => return (t < topo.tunnels.len()).then(|| Link::Tunnel(t).label(topo)),
        Elem::Bridge(h, b) => return Some(Link::Bridge(bridge(h, b)?).label(topo)),
        Elem::Uplink(h, b) => {
            let id = bridge(h, b).filter(|&i| topo.bridges[i].uplink.is_some())?;
            return Some(Link::Uplink(id).label(topo));
        }
        Elem::Nic(h, v, n) => (format!("hosts[{h}].vms[{v}]"), n),
        Elem::RIface(h, r, i) => (format!("hosts[{h}].routers[{r}]"), i),
        Elem::DhcpLink(h, d) => (format!("hosts[{h}].dhcp[{d}]"), 0),
        _ => return None,
    };
    let guest = topo.guests.iter().position(|g| g.path == path)?;
    (iface < topo.guests[guest].ifaces.len()).then(|| Link::Nic { guest, iface }.label(topo))
}

/// One captured packet.
pub struct Row {
    pub n: usize,
    /// Nanoseconds since the capture's first packet.
    pub at_ns: u64,
    pub orig_len: u32,
    pub layers: Vec<Layer>,
    /// The headers on one line.
    pub summary: String,
    /// The same in lower case, once: what the filter searches on every chunk.
    pub search: String,
    /// The same without the Ethernet header, when more follow: what the list shows.
    pub shown: String,
    pub data: Vec<u8>,
}

/// Where a capture is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Asked: the server has not answered yet.
    Asking,
    /// The server listens on the link: packets come as they are seen.
    Capturing,
    /// Stopped, ended by the server, or refused.
    Ended,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Asking => "asking",
            Phase::Capturing => "capturing",
            Phase::Ended => "ended",
        }
    }
}

/// The capture shown, or last shown, on the tab.
#[derive(Clone, Copy)]
pub struct Capture {
    pub link: RwSignal<Option<String>>,
    pub phase: RwSignal<Phase>,
    pub error: RwSignal<Option<String>>,
    pub rows: RwSignal<Vec<std::sync::Arc<Row>>>,
    pub filter: RwSignal<String>,
    pub picked: RwSignal<Option<usize>>,
    /// The pcap file as received: the file header, then whole and partial records.
    file: StoredValue<Vec<u8>>,
    /// Where the records not yet read start in `file`.
    read: StoredValue<usize>,
    /// When the first packet was seen (ns since the epoch): times are shown from it.
    t0: StoredValue<Option<u64>>,
    /// Which capture is current: a stopped one's late chunks are dropped.
    run: StoredValue<u32>,
    abort: StoredValue<Option<web_sys::AbortController>, LocalStorage>,
}

impl Capture {
    pub fn new() -> Capture {
        Capture {
            link: RwSignal::new(None),
            phase: RwSignal::new(Phase::Ended),
            error: RwSignal::new(None),
            rows: RwSignal::new(Vec::new()),
            filter: RwSignal::new(String::new()),
            picked: RwSignal::new(None),
            file: StoredValue::new(Vec::new()),
            read: StoredValue::new(0),
            t0: StoredValue::new(None),
            run: StoredValue::new(0),
            abort: StoredValue::new_local(None),
        }
    }

    /// Start capturing on the link canvas element `e` is, ending any capture running.
    pub fn start(self, ctx: Ctx, e: Elem) {
        self.stop();
        self.rows.set(Vec::new());
        self.picked.set(None);
        self.file.set_value(Vec::new());
        self.read.set_value(0);
        self.t0.set_value(None);
        let label = ctx
            .check
            .with_untracked(|c| c.topo.as_ref().and_then(|t| link_label(t, e)));
        self.link.set(label.clone());
        let asked = match (label, ctx.stored.get_untracked()) {
            (None, _) => Err("The design has errors: fix them (see Problems) to capture on its links.".to_string()),
            (Some(_), None) => Err("This design is not stored on the server: save it (Server tab) and apply it (Deploy tab), then capture on its links.".to_string()),
            (Some(link), Some(s)) => Ok(format!(
                "/api/designs/{}/capture?link={}&seconds={SECONDS}&count={MAX_PACKETS}",
                s.id,
                js_sys::encode_uri_component(&link)
            )),
        };
        let url = match asked {
            Ok(url) => url,
            Err(e) => return self.error.set(Some(e)),
        };
        self.error.set(None);
        let Ok(abort) = web_sys::AbortController::new() else {
            return self
                .error
                .set(Some("this browser cannot stop a request".into()));
        };
        let signal = abort.signal();
        self.abort.set_value(Some(abort));
        let run = self.run.get_value() + 1;
        self.run.set_value(run);
        self.phase.set(Phase::Asking);
        spawn_local(async move {
            let ended = self.pump(run, &url, &signal).await;
            if self.run.get_value() == run {
                self.phase.set(Phase::Ended);
                if let Err(e) = ended {
                    self.error.set(Some(e));
                }
            }
        });
    }

    /// End the running capture: the request is aborted, what came is kept.
    pub fn stop(self) {
        // A newer run number: the aborted stream's last words are not errors.
        self.run.update_value(|r| *r += 1);
        if let Some(a) = self.abort.get_value() {
            a.abort();
        }
        self.abort.set_value(None);
        self.phase.set(Phase::Ended);
    }

    /// Read the capture's stream to its end, adding its packets as they come.
    async fn pump(self, run: u32, url: &str, signal: &web_sys::AbortSignal) -> Result<(), String> {
        let init = web_sys::RequestInit::new();
        init.set_credentials(web_sys::RequestCredentials::SameOrigin);
        init.set_signal(Some(signal));
        let resp = JsFuture::from(window().fetch_with_str_and_init(url, &init))
            .await
            .map_err(|e| format!("the server did not answer: {}", js_err(e)))?;
        let resp: web_sys::Response = resp.dyn_into().map_err(js_err)?;
        if !resp.ok() {
            let text = JsFuture::from(resp.text().map_err(js_err)?)
                .await
                .map_err(js_err)?;
            let json = serde_json::from_str(&text.as_string().unwrap_or_default())
                .unwrap_or(serde_json::Value::Null);
            return Err(error_message(&json, resp.status()));
        }
        let body = resp.body().ok_or("the capture came without a body")?;
        if self.run.get_value() == run {
            self.phase.set(Phase::Capturing);
        }
        let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        loop {
            let chunk = JsFuture::from(reader.read()).await;
            if self.run.get_value() != run {
                return Ok(());
            }
            let chunk = chunk.map_err(|e| format!("the capture broke off: {}", js_err(e)))?;
            let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                return Ok(());
            }
            let value =
                js_sys::Reflect::get(&chunk, &JsValue::from_str("value")).map_err(js_err)?;
            self.take(&value.unchecked_into::<js_sys::Uint8Array>().to_vec())?;
        }
    }

    /// Add a chunk of the stream; the packets it completes become rows.
    fn take(self, chunk: &[u8]) -> Result<(), String> {
        self.file.update_value(|f| f.extend_from_slice(chunk));
        let from = self.read.get_value();
        let new = self.file.with_value(|f| {
            let (packets, read) = pcap::complete(f, from)?;
            let base = self.rows.with_untracked(Vec::len);
            let t0 = self.t0.get_value().or(packets.first().map(|p| p.ts_ns));
            self.t0.set_value(t0);
            let t0 = t0.unwrap_or(0);
            let rows: Vec<_> = packets
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let layers = decode(p.data);
                    let summary = Headers(&layers).to_string();
                    std::sync::Arc::new(Row {
                        n: base + i + 1,
                        at_ns: p.ts_ns.saturating_sub(t0),
                        orig_len: p.orig_len,
                        search: summary.to_lowercase(),
                        summary,
                        shown: shown(&layers),
                        layers,
                        data: p.data.to_vec(),
                    })
                })
                .collect();
            Ok::<_, pcap::PcapError>((rows, read))
        });
        let (rows, read) = new.map_err(|e| format!("the capture is not pcap: {e}"))?;
        self.read.set_value(read);
        if !rows.is_empty() {
            self.rows.update(|r| r.extend(rows));
        }
        Ok(())
    }

    /// Save the pcap received so far (its complete records) as a download.
    fn download(self) {
        let name = self.link.get_untracked().unwrap_or_default();
        let name = format!(
            "{}.pcap",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let bytes = self.file.with_value(|f| {
            let end = self.read.get_value().max(f.len().min(24));
            js_sys::Uint8Array::from(&f[..end])
        });
        let bag = web_sys::BlobPropertyBag::new();
        bag.set_type("application/vnd.tcpdump.pcap");
        let parts = js_sys::Array::of1(&bytes);
        if let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &bag) {
            crate::canvas::save_blob(&name, &blob);
        }
    }
}

/// `bytes` as hex, 16 a line, each line with its offset.
pub fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, line)| {
            let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}  {}", i * 16, hex.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A packet's headers on one line, but for its Ethernet header when others follow.
fn shown(layers: &[Layer]) -> String {
    match layers {
        [Layer::Ethernet { .. }, rest @ ..] if !rest.is_empty() => Headers(rest).to_string(),
        all => Headers(all).to_string(),
    }
}

/// The filter as rows are searched with it: any case, spaces around ignored.
pub fn filter_key(filter: &str) -> String {
    filter.trim().to_lowercase()
}

/// Whether a packet's one-line headers, in lower case, hold the filter's key
/// (an empty key matches all).
pub fn matches(search: &str, key: &str) -> bool {
    search.contains(key)
}

#[component]
pub fn CapturePanel() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let cap = Capture::new();
    provide_context(cap);
    Effect::new(move |_| {
        if let Some(e) = ctx.capture_on.get() {
            cap.start(ctx, e);
        }
    });
    let count = move || cap.rows.with(Vec::len);
    view! {
        <div class="capture" id="capture">
            <h3>"Capture"</h3>
            {move || match cap.link.get() {
                None => view! { <p class="muted">"Right-click a link of a vm, a router or a dhcp server, a tunnel or a bridge on the canvas to capture its packets live (the design stored on the server and applied)."</p> }.into_any(),
                Some(l) => view! { <p>"On "<b id="capture-link">{l}</b>" "<span class="muted" id="capture-count" data-phase=move || cap.phase.get().as_str()>{move || format!("{} packets{}", count(), match cap.phase.get() { Phase::Asking => ", asking the server…", Phase::Capturing => ", capturing…", Phase::Ended => "" })}</span></p> }.into_any(),
            }}
            {move || cap.error.get().map(|e| view! { <p class="error" id="capture-error">{e}</p> })}
            <div class="row">
                <button id="capture-stop" disabled=move || cap.phase.get() == Phase::Ended on:click=move |_| cap.stop()>"Stop"</button>
                <button id="capture-download" disabled=move || count() == 0 on:click=move |_| cap.download()>"Download pcap"</button>
                <input id="capture-filter" type="search" placeholder="filter: icmp, vlan 10, 10.0.10.2"
                    prop:value=move || cap.filter.get() on:input=move |ev| cap.filter.set(event_target_value(&ev)) />
            </div>
            <PacketList />
            <Picked />
        </div>
    }
}

/// The packets matching the filter, oldest first; a click picks one.
#[component]
fn PacketList() -> impl IntoView {
    let cap = expect_context::<Capture>();
    let shown = move || {
        let key = filter_key(&cap.filter.get());
        cap.rows.with(|r| {
            r.iter()
                .filter(|r| matches(&r.search, &key))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <div class="packets-scroll">
            <table class="packets" id="capture-packets">
                <thead><tr><th>"#"</th><th>"time"</th><th>"len"</th><th>"headers"</th></tr></thead>
                <tbody>
                    <For each=shown key=|r| r.n children=move |r| {
                        let n = r.n;
                        view! {
                            <tr class="packet" data-n=n.to_string() class:current=move || cap.picked.get() == Some(n)
                                on:click=move |_| cap.picked.set(Some(n))>
                                <td>{n}</td>
                                <td>{format!("{:.6}", r.at_ns as f64 / 1e9)}</td>
                                <td>{r.orig_len}</td>
                                <td class="summary" title=r.summary.clone()>{r.shown.clone()}</td>
                            </tr>
                        }
                    } />
                </tbody>
            </table>
        </div>
    }
}

/// The picked packet: its headers, then its bytes.
#[component]
fn Picked() -> impl IntoView {
    let cap = expect_context::<Capture>();
    move || {
        let n = cap.picked.get()?;
        // Rows are only appended: a new chunk must not rebuild the picked packet.
        let row = cap.rows.with_untracked(|r| r.get(n - 1).cloned())?;
        Some(view! {
            <div class="inspector" id="capture-inspector">
                <h4>{format!("Packet {n}: {} bytes", row.orig_len)}</h4>
                {layer_tree(&row.layers)}
                <pre class="hex" id="capture-hex">{hex_dump(&row.data)}</pre>
            </div>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nics_and_tunnels_are_named_as_the_api_takes_them() {
        let spec = netloom_core::parse(include_str!("../../examples/seedlab-gre.yaml")).unwrap();
        let topo = netloom_core::validate(&spec).unwrap().topology;
        assert_eq!(
            link_label(&topo, Elem::Nic(0, 0, 0)).as_deref(),
            Some("vm1:eth0")
        );
        assert_eq!(
            link_label(&topo, Elem::Nic(1, 0, 0)).as_deref(),
            Some("vm3:eth0")
        );
        assert_eq!(
            link_label(&topo, Elem::Tunnel(0)).as_deref(),
            Some("tunnels[0]")
        );
        assert_eq!(link_label(&topo, Elem::Tunnel(1)), None);
        assert_eq!(link_label(&topo, Elem::Nic(0, 9, 0)), None);
        assert_eq!(
            link_label(&topo, Elem::Bridge(1, 0)).as_deref(),
            Some("node2/br-in")
        );
        assert_eq!(link_label(&topo, Elem::Bridge(1, 1)), None);
        assert_eq!(link_label(&topo, Elem::Vm(0, 0)), None);
        for label in [Elem::Nic(0, 1, 0), Elem::Tunnel(0), Elem::Bridge(0, 0)]
            .map(|e| link_label(&topo, e).unwrap())
        {
            assert!(Link::parse(&topo, &label).is_ok(), "{label}");
        }
    }

    #[test]
    fn a_router_and_a_dhcp_server_are_named_by_host() {
        for (text, kind) in [
            (include_str!("../../examples/nat.yaml"), "routers"),
            (include_str!("../../examples/dhcp.yaml"), "dhcp"),
        ] {
            let spec = netloom_core::parse(text).unwrap();
            let topo = netloom_core::validate(&spec).unwrap().topology;
            let h = spec
                .hosts
                .iter()
                .position(|h| {
                    if kind == "dhcp" {
                        !h.dhcp.is_empty()
                    } else {
                        !h.routers.is_empty()
                    }
                })
                .unwrap();
            let (e, iface) = if kind == "dhcp" {
                (Elem::DhcpLink(h, 0), 0)
            } else {
                (Elem::RIface(h, 0, 1), 1)
            };
            let g = topo
                .guests
                .iter()
                .find(|g| g.path == format!("hosts[{h}].{kind}[0]"))
                .unwrap();
            let want = format!("{}/{}:{}", spec.hosts[h].name, g.name, g.ifaces[iface].name);
            assert_eq!(link_label(&topo, e), Some(want));
        }
    }

    #[test]
    fn an_uplink_is_named_by_its_bridge() {
        let spec = netloom_core::parse(include_str!("../../examples/nat.yaml")).unwrap();
        let topo = netloom_core::validate(&spec).unwrap().topology;
        let label = link_label(&topo, Elem::Uplink(0, 1));
        assert_eq!(label.as_deref(), Some("node1/br-ex:uplink"));
        assert!(Link::parse(&topo, &label.unwrap()).is_ok());
        assert_eq!(
            link_label(&topo, Elem::Uplink(0, 0)),
            None,
            "br-in has none"
        );
    }

    #[test]
    fn bytes_are_shown_sixteen_a_line_with_their_offset() {
        let dump = hex_dump(&(0..20).collect::<Vec<u8>>());
        assert_eq!(
            dump,
            "0000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n0010  10 11 12 13"
        );
        assert_eq!(hex_dump(&[]), "");
    }

    #[test]
    fn the_filter_is_a_substring_of_any_case() {
        let s =
            "eth a > b | 802.1q vlan 10 | ipv4 10.0.10.1 > 10.0.10.2 ttl 64 len 84 | tcp 1 > 2 SYN"
                .to_lowercase();
        assert!(matches(&s, &filter_key("syn")));
        assert!(matches(&s, &filter_key(" VLAN 10 ")));
        assert!(!matches(&s, &filter_key("vlan 20")));
        assert!(matches(&s, &filter_key("")));
    }

    #[test]
    fn the_list_leaves_out_the_ethernet_header_when_more_follow() {
        let frame = [
            [2u8, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06].as_slice(),
            &[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 0, 0, 2],
            &[0, 0, 0, 0, 0, 0, 10, 0, 0, 1],
        ]
        .concat();
        let layers = decode(&frame);
        assert_eq!(shown(&layers), "arp who-has 10.0.0.1 tell 10.0.0.2");
        assert!(Headers(&layers).to_string().starts_with("eth "));
        assert_eq!(shown(&layers[..1]), Headers(&layers[..1]).to_string());
    }
}
