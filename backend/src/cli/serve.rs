//! `netloom serve`: the web app and its API (see `crate::server`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::server::{self, auth, store::Store, AppState};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address and port to listen on. Anything but loopback needs
    /// --token-file, and TLS (--tls-cert/--tls-key) or --insecure.
    #[arg(long, default_value = "127.0.0.1:7310", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Where designs are stored (SQLite). Default: $XDG_DATA_HOME/netloom,
    /// /var/lib/netloom for root, else ~/.local/share/netloom.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The built web app (Trunk's dist). Default: the `dist` of the source
    /// tree. Refused when another user could change it.
    #[arg(long, value_name = "DIR")]
    dist: Option<PathBuf>,
    /// Read the access token from this file (mode 0600 or stricter) instead
    /// of making a random one; the login URL is then printed without it.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (the token then crosses the network in clear).
    #[arg(long)]
    insecure: bool,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds a client may take over its TLS handshake, over a request's
    /// headers, and between two pieces of a request body; then the connection
    /// is closed, so a slow or silent client cannot hold it forever.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    client_timeout: u64,
    /// A host name clients may use to reach this server (repeatable). IP
    /// addresses and `localhost` always work; other names in the Host header
    /// are refused, so a web page on a name pointed at this machine (DNS
    /// rebinding) cannot talk to it.
    #[arg(long, value_name = "NAME")]
    allowed_host: Vec<String>,
}

/// Whether a Host header (`name[:port]`, `[v6]:port`) names this server: an IP
/// address, `localhost`, or one of `allowed`.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("netloom");
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    match std::env::var_os("HOME") {
        Some(home) if !root => PathBuf::from(home).join(".local/share/netloom"),
        _ => PathBuf::from("/var/lib/netloom"),
    }
}

/// Trunk's output: beside or above the binary (target/<profile>/netloom in the
/// source tree), in the current directory, or in the tree this was built from;
/// one another user could change is passed over, saying why.
fn find_dist() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    let above_exe = exe
        .iter()
        .flat_map(|e| e.ancestors().skip(1))
        .map(|d| d.join("dist"));
    let cwd = std::env::current_dir().ok().map(|d| d.join("dist"));
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    above_exe
        .chain(cwd)
        .chain(std::iter::once(built_from))
        .filter(|d| d.join("index.html").is_file())
        .find(|d| match only_ours(d) {
            Ok(()) => true,
            Err(e) => {
                eprintln!(
                    "netloom serve: not serving the web app in {}: {e}",
                    d.display()
                );
                false
            }
        })
}

/// Whether `path` is a directory that only this user or root can change: it
/// and everything in it owned by one of them and not writable by group or
/// others, and so are the directories above it (but for sticky ones such as
/// /tmp, where others cannot rename what is ours). Otherwise another local
/// user could swap the app the browser runs, token cookie and all.
fn only_ours(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let real = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let check = |p: &Path, m: &std::fs::Metadata, above: bool| -> Result<(), String> {
        if m.uid() != 0 && m.uid() != euid {
            return Err(format!("{} is owned by uid {}", p.display(), m.uid()));
        }
        let sticky_dir = above && m.is_dir() && m.mode() & 0o1000 != 0;
        if m.mode() & 0o022 != 0 && !sticky_dir {
            return Err(format!(
                "{} is mode {:04o}: others can write there",
                p.display(),
                m.mode() & 0o7777
            ));
        }
        Ok(())
    };
    for (i, p) in real.ancestors().enumerate() {
        let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        check(p, &m, i > 0)?;
    }
    let mut dirs = vec![real];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let p = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            let m = std::fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            if m.file_type().is_symlink() {
                return Err(format!("{} is a symbolic link", p.display()));
            }
            check(&p, &m, false)?;
            if m.is_dir() {
                dirs.push(p);
            }
        }
    }
    Ok(())
}

fn read_token(path: &Path) -> Result<String, String> {
    let t = crate::secret::read_token_file(path).map_err(|e| e.to_string())?;
    if t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{}: the token must be at least 16 printable characters without spaces",
            path.display()
        ));
    }
    Ok(t)
}

pub fn run(args: Args) -> ExitCode {
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netloom serve: {e}");
            ExitCode::from(2)
        }
    }
}

fn start(args: Args) -> Result<(), String> {
    exposure(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            c,
            k,
            &[b"http/1.1"],
        )?)),
        _ => None,
    };
    let token = match &args.token_file {
        Some(p) => read_token(p)?,
        None => auth::random_token().map_err(|e| format!("cannot make a token: {e}"))?,
    };
    // Whatever serve makes (the database, its journals, deploy jobs' files
    // and sockets) is its user's only, from the start.
    // SAFETY: umask has no preconditions; no other thread runs yet.
    unsafe {
        libc::umask(0o077);
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let store = Store::open(&data_dir)?;
    let dist = args.dist.clone().or_else(find_dist);
    match &dist {
        Some(d) if d.join("index.html").is_file() => only_ours(d).map_err(|e| {
            format!("refusing to serve the web app in {}: {e}", d.display())
        })?,
        Some(d) => return Err(format!("{}: no index.html there (run `trunk build --release`)", d.display())),
        None => eprintln!("netloom serve: the web app is not built (run `trunk build --release`); serving the API only"),
    }
    let state = AppState {
        store,
        token: token.clone(),
        tls: tls.is_some(),
        dist: dist.clone(),
        jobs: Default::default(),
    };
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        eprintln!("netloom serve: designs in {}", data_dir.display());
        announce(addr, tls.is_some(), &token, args.token_file.as_deref());
        let timeout = Duration::from_secs(args.client_timeout);
        let app = layered(server::app(state), args.allowed_host, dist, timeout);
        // SIGINT or SIGTERM (a service manager's stop): the runtime drops its
        // connections, so running captures see their reader gone, stop, and
        // remove any bridge mirror before the process ends.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        tokio::select! {
            () = accept_loop(listener, app, tls, timeout) => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term.recv() => Ok(()),
        }
    })
}

/// Off loopback, serve needs a token file and TLS (or `--insecure`, said loudly).
fn exposure(args: &Args) -> Result<(), String> {
    if args.listen.ip().is_loopback() {
        return Ok(());
    }
    if args.token_file.is_none() {
        return Err(format!(
            "listening on {} needs --token-file: a token printed on this terminal is no protection on a network",
            args.listen
        ));
    }
    if args.tls_cert.is_none() {
        if !args.insecure {
            return Err(format!(
                "listening on {} needs TLS (--tls-cert and --tls-key); pass --insecure to serve plain HTTP on a network you trust",
                args.listen
            ));
        }
        eprintln!(
            "netloom serve: WARNING: --insecure: plain HTTP on {}; the token and designs cross the network unencrypted",
            args.listen
        );
    }
    Ok(())
}

/// Print where to log in. stdout carries only the URL, so scripts (and the
/// browser tests) can read it; a token kept in a file stays there: not on a
/// terminal, in a log or in scrollback.
fn announce(addr: SocketAddr, tls: bool, token: &str, token_file: Option<&Path>) {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let host = if addr.is_ipv6() && !addr.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    let scheme = if tls { "https" } else { "http" };
    let base = format!("{scheme}://{host}:{}/", addr.port());
    match token_file {
        Some(f) => {
            println!("{base}");
            eprintln!(
                "netloom serve: log in at {base}login?token=TOKEN, TOKEN being the content of {}",
                f.display()
            );
        }
        None => println!("{base}login?token={token}"),
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// The app behind its outer layers: the body timeout, the `Host` check
/// (421 for names not allowed) and the security headers.
fn layered(
    app: axum::Router,
    allowed_host: Vec<String>,
    dist: Option<PathBuf>,
    timeout: Duration,
) -> axum::Router {
    let allowed = std::sync::Arc::new(allowed_host);
    app.layer(RequestBodyTimeoutLayer::new(timeout))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let allowed = allowed.clone();
                async move {
                    let host = req
                        .headers()
                        .get(axum::http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or_default();
                    if host_allowed(host, &allowed) {
                        next.run(req).await
                    } else {
                        use axum::response::IntoResponse;
                        server::error::ApiError::new(
                            axum::http::StatusCode::MISDIRECTED_REQUEST,
                            "",
                            format!("this server does not answer to the name {host:?}: reach it by its address, or start it with --allowed-host NAME"),
                        )
                        .into_response()
                    }
                }
            },
        ))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                server::security_headers(dist.clone(), req, next)
            },
        ))
}

/// Accept connections forever; each one (after its TLS handshake) is served
/// by hyper's HTTP/1.1 with a header read timeout, which `axum::serve` does not set.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    timeout: Duration,
) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                eprintln!("netloom serve: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(timeout);
            // Errors are the client's (a reset, a timeout, a failed handshake): nothing to report.
            match tls {
                None => {
                    let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                }
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(timeout, acceptor.accept(tcp)).await
                    {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            }
        });
    }
}
