//! TLS for `netloom serve`, `netloom agent`, the controller's connections
//! to agents and to an OVN central's databases: rustls with the ring provider
//! (no system OpenSSL), PEM files.
//!
//! A certificate the client trusts directly may be self-signed, as long as it
//! is not marked as a CA (`basicConstraints CA:TRUE`, `openssl req -x509`'s
//! default): webpki refuses a CA certificate as a server's own.

use std::path::Path;
use std::sync::Arc;

use netloom_core::ovn::Tls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// A server's configuration from its certificate chain and key (PEM); `alpn`:
/// the protocols offered (none for the agent's own protocol).
pub fn server_config(cert: &Path, key: &Path, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, String> {
    let chain = certs(cert)?;
    let k = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, k)
        .map_err(|e| format!("{} with {}: {e}", cert.display(), key.display()))?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// The certificates in `ca` (PEM) as trust anchors.
fn roots(ca: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca)? {
        roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    Ok(roots)
}

/// A client's configuration trusting exactly the certificates in `ca` (PEM:
/// a CA, or the servers' own certificates).
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, String> {
    let roots = roots(ca)?;
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A client's configuration for an OVSDB server's `ssl:` remote, as OVS
/// itself connects: it presents the certificate and key of `tls`, and takes
/// any server certificate signed by the CA of `tls`, whatever name it bears.
pub fn ovsdb_client_config(tls: &Tls) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let verifier = Arc::new(ChainOnly {
        roots: roots(Path::new(&tls.ca_certificate))?,
        algs: provider.signature_verification_algorithms,
    });
    let chain = certs(Path::new(&tls.certificate))?;
    let key = PrivateKeyDer::from_pem_file(&tls.private_key).map_err(|e| match e {
        pem::Error::NoItemsFound => format!("private key: no key in {}", tls.private_key),
        e => format!("private key {}: {e}", tls.private_key),
    })?;
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            format!(
                "certificate {} with private key {}: {e}",
                tls.certificate, tls.private_key
            )
        })
        .map(Arc::new)
}

/// Verifies a server's certificate by its chain to the trusted CA alone, as
/// OVS does: `ovs-pki` names no host in a certificate (`CN=NAME id:UUID`),
/// and OVS checks none. The signatures of the handshake are checked as
/// webpki checks them.
#[derive(Debug)]
struct ChainOnly {
    roots: RootCertStore,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
