//! The byte stream under an OVSDB connection: a unix socket (a host's own
//! ovsdb-server), plain TCP or TLS (an OVN central's databases, at
//! `tcp:IP:PORT` or `ssl:IP:PORT`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use netloom_core::ovn::{Remote, Tls};
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, ClientConnection, StreamOwned};

/// Longest wait for a TCP connection, and for each read or write of the TLS
/// handshake and the first exchange.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection, read and written through the same value: a TLS
/// connection's state serves both directions, so it cannot be split in two
/// halves as a socket can.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    /// Boxed: the TLS state is kilobytes, a socket one descriptor.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Stream {
    /// Connect to a unix socket; reads wait at most `read_timeout`.
    pub fn unix(path: &str, read_timeout: Duration) -> io::Result<Stream> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(read_timeout))?;
        Ok(Stream::Unix(s))
    }

    /// Connect to `remote` within [`CONNECT_TIMEOUT`], and for `ssl:` make
    /// the TLS handshake with the files of `tls`. The error says what failed,
    /// without the remote (the caller names it).
    pub fn net(remote: Remote, tls: Option<&Tls>) -> Result<Stream, String> {
        // Before connecting: a missing or bad file is the user's to fix, not the network's.
        let cfg = match (remote.ssl, tls) {
            (false, _) => None,
            (true, None) => {
                return Err("an ssl: remote needs a private key, certificate and CA".into())
            }
            (true, Some(t)) => Some(crate::tls::ovsdb_client_config(t)?),
        };
        let tcp = TcpStream::connect_timeout(&SocketAddr::V4(remote.addr), CONNECT_TIMEOUT)
            .map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(CONNECT_TIMEOUT))
            .and_then(|()| tcp.set_write_timeout(Some(CONNECT_TIMEOUT)))
            .and_then(|()| tcp.set_nodelay(true))
            .map_err(|e| e.to_string())?;
        let (Some(cfg), Some(tls)) = (cfg, tls) else {
            return Ok(Stream::Tcp(tcp));
        };
        // The address stands for the server's name, which no one checks.
        let name = ServerName::from(std::net::IpAddr::V4(*remote.addr.ip()));
        let conn = ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| tls_failure(&e, tls))?;
        }
        Ok(Stream::Tls(Box::new(s)))
    }

    /// Reads wait at most `t` from now on.
    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Tls(s) => s.sock.set_read_timeout(Some(t)),
        }
    }
}

/// What a failed TLS handshake or first exchange means, naming the file at
/// fault when it is one of `tls`.
pub fn tls_failure(e: &io::Error, tls: &Tls) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return "the server closed the connection in the TLS handshake (is it a tcp: remote?)"
            .into();
    }
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e.to_string();
    };
    match err {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "the server's certificate is not signed by the CA in {}",
            tls.ca_certificate
        ),
        // webpki's error, behind rustls' opaque `Other`, is known by its name.
        rustls::Error::InvalidCertificate(CertificateError::Other(o))
            if o.to_string() == "UnsupportedCertVersion" =>
        {
            "the server's certificate is X.509 v1, which rustls refuses: sign it as v3 \
             (with extensions, as `ovs-pki req+sign` of OVS 3 does)"
                .into()
        }
        rustls::Error::InvalidCertificate(c) => format!("the server's certificate: {c}"),
        rustls::Error::AlertReceived(
            a @ (AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRequired),
        ) => format!(
            "the server refused our certificate {} ({a:?}): is it signed by the central's CA?",
            tls.certificate
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_name_the_file_at_fault() {
        let tls = Tls {
            private_key: "/pki/key.pem".into(),
            certificate: "/pki/cert.pem".into(),
            ca_certificate: "/pki/ca.pem".into(),
        };
        let wrap = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let unknown = wrap(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            tls_failure(&unknown, &tls),
            "the server's certificate is not signed by the CA in /pki/ca.pem"
        );
        let refused = wrap(rustls::Error::AlertReceived(AlertDescription::UnknownCA));
        assert!(
            tls_failure(&refused, &tls)
                .starts_with("the server refused our certificate /pki/cert.pem"),
            "{}",
            tls_failure(&refused, &tls)
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(tls_failure(&reset, &tls), reset.to_string());
    }
}
