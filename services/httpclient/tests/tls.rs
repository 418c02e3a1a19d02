//! HTTPS with rustls + ring against a loopback server with a self-signed certificate.
#![cfg(feature = "tls")]

use std::sync::Arc;

use axum::Router;
use axum::http::Version;
use axum::routing::get;
use core_backend_httpclient::{Error, HttpClient};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Serves a router over TLS on 127.0.0.1:0; returns the port and the certificate.
async fn serve_tls() -> (u16, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = Router::new().route(
        "/hello",
        get(|version: Version| async move { format!("hello over {version:?}") }),
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    (port, cert)
}

#[tokio::test]
async fn https_with_a_trusted_self_signed_certificate() {
    let (port, cert) = serve_tls().await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = HttpClient::builder()
        .base_url(format!("https://localhost:{port}"))
        .tls_config(tls)
        .build()
        .expect("client");
    let response = client.get("hello").send().await.expect("send");
    assert_eq!(
        response.version(),
        Version::HTTP_2,
        "h2 negotiated through ALPN"
    );
    assert_eq!(response.text().await.expect("text"), "hello over HTTP/2.0");
}

#[tokio::test]
async fn untrusted_certificate_is_a_connect_error() {
    let (port, _) = serve_tls().await;
    // The default configuration trusts the webpki roots only.
    let error = HttpClient::new()
        .get(format!("https://localhost:{port}/hello"))
        .send()
        .await
        .expect_err("self-signed certificate is not trusted");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    let message = format!("{:?}", std::error::Error::source(&error));
    assert!(message.contains("UnknownIssuer"), "{message}");
}
