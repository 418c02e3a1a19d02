//! TLS with rustls (ring provider): certificate and key from PEM files, ALPN `h2` + `http/1.1`.

use std::{path::Path, sync::Arc};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio_rustls::TlsAcceptor;

use crate::{config::TlsConfig, error::Error};

fn tls_error(message: String, source: impl Into<tower::BoxError>) -> Error {
    Error::Tls {
        message,
        source: Some(source.into()),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| {
            tls_error(
                format!("cannot read certificates from {}", path.display()),
                e,
            )
        })?;
    if certs.is_empty() {
        return Err(Error::Tls {
            message: format!("no PEM certificate found in {}", path.display()),
            source: None,
        });
    }
    Ok(certs)
}

pub(crate) fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, Error> {
    let certs = read_certs(&config.cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&config.key_path).map_err(|e| {
        tls_error(
            format!(
                "cannot read a private key from {}",
                config.key_path.display()
            ),
            e,
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("unsupported TLS protocol versions".to_owned(), e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            tls_error(
                format!(
                    "certificate {} and key {} do not form a usable pair",
                    config.cert_path.display(),
                    config.key_path.display()
                ),
                e,
            )
        })?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}
