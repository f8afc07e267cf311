//! `netloom capture FILE --link LINK [-w PCAP|-] [-c COUNT] [--duration SECONDS] [-s SNAPLEN]`
//!
//! Listens on one link of an applied topology: here for a sandbox host,
//! through its agent for a real one. Without `-w`, one line
//! per packet, its headers as the simulator prints a hop's; with `-w`, pcap
//! (`-w - | wireshark -k -i -`), written packet by packet. Ctrl-C or
//! SIGTERM end it cleanly: the file is whole and a bridge's mirror removed.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use netloom_core::capture::{decode, pcap, Link};
use netloom_core::trace::Headers;

use super::load_as_root;
use crate::deploy::capture::{self, Limits};
use crate::host::lock;

/// tcpdump's default: whole frames.
const DEFAULT_SNAPLEN: u32 = 262_144;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (YAML or JSON) of an applied topology; `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
    /// A guest's nic (`vm1:eth0`, `host/router:outside`; `vm1` when it has one),
    /// a tunnel (`tunnels[0]`, seen on its first end's underlay NIC), a whole
    /// bridge (`node1/br-in`, through an OVS mirror made for the capture) or
    /// a bridge's uplink (`node1/br-ex:uplink`).
    #[arg(long, value_name = "LINK")]
    link: String,
    /// Write pcap to this file instead of printing; `-`: standard output.
    #[arg(short = 'w', long = "write", value_name = "PCAP")]
    write: Option<String>,
    /// Stop after this many packets.
    #[arg(short = 'c', long, value_name = "COUNT")]
    count: Option<u64>,
    /// Stop after this many seconds (default: when interrupted).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Bytes kept of each packet (1..262144).
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = DEFAULT_SNAPLEN)]
    snaplen: u32,
}

/// 0 when the capture ran, 1 for an invalid file, 2 for a bad link or option, or an IO error.
pub fn run(args: Args) -> ExitCode {
    let topo = match load_as_root(&args.file, "capture") {
        Ok(t) => t,
        Err(code) => return code,
    };
    match capture(&topo, &args) {
        Ok(n) => {
            eprintln!("{n} packets captured on {}", args.link);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netloom capture: {e}");
            ExitCode::from(2)
        }
    }
}

fn capture(topo: &netloom_core::Topology, args: &Args) -> Result<u64, String> {
    if !(1..=DEFAULT_SNAPLEN).contains(&args.snaplen) {
        return Err(format!(
            "--snaplen {} is outside 1..{DEFAULT_SNAPLEN}",
            args.snaplen
        ));
    }
    let seconds = match args.duration {
        Some(d) if d.is_finite() && d > 0.0 => Some(d),
        Some(d) => {
            return Err(format!(
                "--duration {d} is not a positive number of seconds"
            ))
        }
        None => None,
    };
    let link = Link::parse(topo, &args.link).map_err(|e| format!("--link {e}"))?;
    let mut out = Output::new(args.write.as_deref(), args.snaplen)?;
    // Ctrl-C ends the capture, not the process: a bridge's mirror is removed on the way out.
    lock::cancel_waits_on_signals();
    let _stop_on_signal = lock::Waiting::start();
    let limits = Limits {
        snaplen: args.snaplen,
        seconds,
        count: args.count,
    };
    let mut written = Ok(());
    let n = capture::run(topo, link, &limits, |frame| {
        if let Some(f) = frame {
            written = out.packet(f, &decode(&f.data));
        }
        written.is_ok() && lock::interrupted().is_none()
    })
    .map_err(|e| format!("--link {}: {e}", args.link))?;
    written.map_err(|e| format!("writing: {e}"))?;
    Ok(n)
}

/// Where packets go: pcap into a file or standard output, or text lines.
enum Output {
    Pcap(Box<dyn Write>),
    Text,
}

impl Output {
    fn new(write: Option<&str>, snaplen: u32) -> Result<Output, String> {
        let mut w: Box<dyn Write> = match write {
            None => return Ok(Output::Text),
            Some("-") => Box::new(std::io::stdout()),
            Some(path) => {
                Box::new(std::fs::File::create(path).map_err(|e| format!("-w {path}: {e}"))?)
            }
        };
        w.write_all(&pcap::file_header(snaplen))
            .and_then(|()| w.flush())
            .map_err(|e| format!("writing: {e}"))?;
        Ok(Output::Pcap(w))
    }

    fn packet(
        &mut self,
        frame: &crate::host::capture::Frame,
        layers: &[netloom_core::trace::Layer],
    ) -> std::io::Result<()> {
        match self {
            Output::Pcap(w) => {
                w.write_all(&frame.record())?;
                w.flush()
            }
            Output::Text => {
                let now = Duration::from_nanos(frame.ts_ns);
                let day = now.as_secs() % 86_400;
                println!(
                    "{:02}:{:02}:{:02}.{:06} {}",
                    day / 3600,
                    day / 60 % 60,
                    day % 60,
                    now.subsec_micros(),
                    Headers(layers)
                );
                Ok(())
            }
        }
    }
}
