//! TLS for the service's listeners (HTTP and PostgreSQL), with rustls: a PEM certificate chain
//! and a PKCS#8 private key from the configuration.

use std::path::Path;
use std::sync::Arc;

use crate::{Error, Result};

/// A TLS server configuration from `cert` and `key` (`setting` names them in errors, e.g.
/// `http`), offering the application protocols `alpn`; with the certificate's PEM text.
pub fn server_config(cert: &Path, key: &Path, setting: &str, alpn: &[&[u8]]) -> Result<(Arc<tokio_rustls::rustls::ServerConfig>, Vec<u8>)> {
    use rustls_pemfile::{certs, pkcs8_private_keys};
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let read = |p: &Path| std::fs::read(p).map_err(|source| Error::Io { path: p.display().to_string(), source });
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    let bad = |what: String| Error::Config(vec![what].into());
    let chain =
        certs(&mut cert_pem.as_slice()).collect::<std::result::Result<Vec<_>, _>>().map_err(|e| bad(format!("{setting}.tls_cert {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(bad(format!("{setting}.tls_cert {}: no PEM certificate in it", cert.display())));
    }
    let key_der = pkcs8_private_keys(&mut key_pem.as_slice())
        .next()
        .ok_or_else(|| bad(format!("{setting}.tls_key {}: no PKCS#8 private key in it", key.display())))?
        .map_err(|e| bad(format!("{setting}.tls_key {}: {e}", key.display())))?;
    let mut config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key_der.into())
        .map_err(|e| bad(format!("{setting} TLS: {e}")))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((Arc::new(config), cert_pem))
}
