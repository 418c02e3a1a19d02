//! TLS (rustls, ring) with a self-signed certificate made in the test: ALPN picks HTTP/2 or
//! HTTP/1.1, gRPC works over it, and bad files fail `bind` with a clear error.

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

mod common;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, routing::get};
use bytes::{BufMut, Bytes, BytesMut};
use common::{Reply, TestServer, empty, notes_server, req};
use core_backend_example_proto::notes_v1::GetNoteRequest;
use core_backend_server::{Error, Server, ServerConfig, TlsConfig};
use http::StatusCode;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

struct Certs {
    dir: tempfile::TempDir,
    tls: TlsConfig,
    cert: CertificateDer<'static>,
}

fn self_signed() -> Certs {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    Certs {
        dir,
        tls: TlsConfig::new(cert_path, key_path),
        cert: key.cert.der().clone(),
    }
}

async fn connect(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
    alpn: &[u8],
) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn serves_http1_http2_and_grpc_over_tls() {
    let certs = self_signed();
    let mut cfg = ServerConfig::default();
    cfg.tls = Some(certs.tls.clone());
    let server = TestServer::start(
        Server::builder()
            .config(cfg)
            .router(Router::new().route("/", get(|| async { "secure" })))
            .grpc_service(notes_server()),
    )
    .await;

    // HTTP/1.1 via ALPN.
    let tls = connect(server.addr, &certs.cert, b"http/1.1").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = Reply::from(
        send.send_request(req("GET", "/").body(empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (res.status, res.text().as_str()),
        (StatusCode::OK, "secure")
    );
    assert_eq!(res.version, http::Version::HTTP_11);

    // HTTP/2 via ALPN, plain request and a gRPC call.
    let tls = connect(server.addr, &certs.cert, b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let url = format!("https://localhost:{}", server.addr.port());
    let res = Reply::from(
        send.send_request(http::Request::get(&url).body(empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.version, http::Version::HTTP_2);
    assert_eq!(res.text(), "secure");

    let msg = GetNoteRequest { id: "9".into() }.encode_to_vec();
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(u32::try_from(msg.len()).unwrap());
    frame.put_slice(&msg);
    let grpc = http::Request::post(format!("{url}/notes.v1.NotesService/GetNote"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(frame.freeze()))
        .unwrap();
    let res = send.send_request(grpc).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (parts, body) = res.into_parts();
    assert_eq!(parts.headers["content-type"], "application/grpc");
    let collected = http_body_util::BodyExt::collect(body).await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    let bytes: Bytes = collected.to_bytes();
    let note = core_backend_example_proto::notes_v1::Note::decode(&bytes[5..]).unwrap();
    assert_eq!(note.id, "9");

    // Cleartext on a TLS port is refused at the handshake, and the server carries on.
    let plain = common::fetch_raw(server.addr).await;
    assert!(!plain.starts_with(b"HTTP/1.1 200"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_files_fail_bind_naming_the_file() {
    let certs = self_signed();
    let mut cfg = ServerConfig::default();
    cfg.addr = "127.0.0.1:0".parse().unwrap();

    cfg.tls = Some(TlsConfig::new("/nonexistent/cert.pem", &certs.tls.key_path));
    let err = Server::builder()
        .config(cfg.clone())
        .bind()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }));
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");

    let junk = certs.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a pem file").unwrap();
    cfg.tls = Some(TlsConfig::new(&junk, &certs.tls.key_path));
    let err = Server::builder()
        .config(cfg.clone())
        .bind()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");

    cfg.tls = Some(TlsConfig::new(&certs.tls.cert_path, &junk));
    let err = Server::builder()
        .config(cfg.clone())
        .bind()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");

    // A key that does not belong to the certificate.
    let other = self_signed();
    cfg.tls = Some(TlsConfig::new(&certs.tls.cert_path, &other.tls.key_path));
    let err = Server::builder().config(cfg).bind().await.unwrap_err();
    assert!(err.to_string().contains("usable pair"), "{err}");
}
