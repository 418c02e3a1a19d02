//! Names from the OpenTelemetry semantic conventions, and the small normalisations that keep
//! label cardinality bounded.

use http::Method;

/// `http.server.request.duration`: histogram, seconds.
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
/// `http.server.active_requests`: up-down counter (a gauge in Prometheus).
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http.server.active_requests";
/// `http.client.request.duration`: histogram, seconds.
pub const HTTP_CLIENT_REQUEST_DURATION: &str = "http.client.request.duration";
/// `rpc.server.duration`: histogram, seconds.
pub const RPC_SERVER_DURATION: &str = "rpc.server.duration";
/// `rpc.client.duration`: histogram, seconds.
pub const RPC_CLIENT_DURATION: &str = "rpc.client.duration";

/// Attribute `http.request.method`.
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// Attribute `http.route`: the matched route template.
pub const HTTP_ROUTE: &str = "http.route";
/// Attribute `http.response.status_code`.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// Attribute `url.scheme`.
pub const URL_SCHEME: &str = "url.scheme";
/// Attribute `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// Attribute `server.port`.
pub const SERVER_PORT: &str = "server.port";
/// Attribute `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// Attribute `rpc.system`.
pub const RPC_SYSTEM: &str = "rpc.system";
/// Attribute `rpc.service`.
pub const RPC_SERVICE: &str = "rpc.service";
/// Attribute `rpc.method`.
pub const RPC_METHOD: &str = "rpc.method";
/// Attribute `rpc.grpc.status_code`.
pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";

/// The value the conventions prescribe for anything outside a known, bounded set.
pub const OTHER: &str = "_OTHER";

/// Bucket boundaries (seconds) the conventions advise for `http.server.request.duration`
/// and the other duration histograms.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `http.request.method` value: the method when it is one of the registered ones, else `_OTHER`
/// (a client may send any token as a method; it must not become a label value).
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => OTHER,
    }
}

/// Splits a gRPC request path `/package.Service/Method` into service and method.
///
/// Returns `None` when the path does not have that shape or contains characters a protobuf
/// identifier cannot hold, so that arbitrary paths never become label values.
pub(crate) fn grpc_service_method(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    let valid = |s: &str, dots: bool| {
        !s.is_empty()
            && s.len() <= 256
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dots && b == b'.'))
    };
    (valid(service, true) && valid(method, false)).then_some((service, method))
}

/// Host and port the request is addressed to, from the URI authority or else the `Host` header.
pub(crate) fn server_address<B>(req: &http::Request<B>) -> Option<(String, Option<u16>)> {
    if let Some(authority) = req.uri().authority() {
        let port = authority
            .port_u16()
            .or_else(|| default_port(req.uri().scheme_str()));
        return Some((authority.host().to_owned(), port));
    }
    let host = req.headers().get(http::header::HOST)?.to_str().ok()?;
    let authority: http::uri::Authority = host.parse().ok()?;
    Some((authority.host().to_owned(), authority.port_u16()))
}

fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// The gRPC status code carried by a header or trailer map, if any and well-formed.
pub(crate) fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    let code: i32 = value.trim().parse().ok()?;
    (0..=16).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_folded() {
        assert_eq!(method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"BREW").expect("valid token");
        assert_eq!(method_label(&custom), OTHER);
    }

    #[test]
    fn grpc_paths() {
        assert_eq!(
            grpc_service_method("/notes.v1.NotesService/GetNote"),
            Some(("notes.v1.NotesService", "GetNote"))
        );
        assert_eq!(grpc_service_method("/a/b/c"), None);
        assert_eq!(grpc_service_method("/notes/"), None);
        assert_eq!(grpc_service_method("notes/Get"), None);
        assert_eq!(grpc_service_method("/no%20pe/Get"), None);
    }

    #[test]
    fn grpc_status_parsing() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(grpc_status(&headers), Some(5));
        headers.insert("grpc-status", http::HeaderValue::from_static("99"));
        assert_eq!(grpc_status(&headers), None);
    }

    #[test]
    fn server_address_from_uri_or_host() {
        let req = http::Request::get("http://example.com/x")
            .body(())
            .expect("request");
        assert_eq!(
            server_address(&req),
            Some(("example.com".to_owned(), Some(80)))
        );
        let req = http::Request::get("/x")
            .header("host", "api.local:8443")
            .body(())
            .expect("request");
        assert_eq!(
            server_address(&req),
            Some(("api.local".to_owned(), Some(8443)))
        );
        let req = http::Request::get("/x").body(()).expect("request");
        assert_eq!(server_address(&req), None);
    }

    proptest::proptest! {
        #[test]
        fn grpc_paths_never_panic_and_only_accept_identifiers(path in "\\PC{0,80}") {
            if let Some((service, method)) = grpc_service_method(&path) {
                let ok = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
                proptest::prop_assert!(ok(service) && ok(method) && !method.contains('.'));
            }
        }

        #[test]
        fn grpc_status_never_panics(value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)) {
            if let Ok(value) = http::HeaderValue::from_bytes(&value) {
                let mut headers = http::HeaderMap::new();
                headers.insert("grpc-status", value);
                if let Some(code) = grpc_status(&headers) {
                    proptest::prop_assert!((0..=16).contains(&code));
                }
            }
        }

        #[test]
        fn host_headers_never_panic(host in "\\PC{0,40}") {
            if let Ok(request) = http::Request::get("/").header("host", host.as_str()).body(()) {
                let _ = server_address(&request);
            }
        }
    }
}
