//! Who is limited: the [`KeyExtractor`] trait and the built-in extractors.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, Method, Uri};
use ipnet::IpNet;

use crate::RateLimitKey;

/// The parts of a request a [`KeyExtractor`] may look at (any body type).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI.
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The extensions (socket peer, matched route, authenticated user…).
    pub extensions: &'a Extensions,
}

impl<'a> RequestParts<'a> {
    /// Borrows the parts of a request.
    pub fn new<B>(req: &'a http::Request<B>) -> Self {
        Self {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }
}

/// Extracts the key a limit is counted for. `None` means the limit does not apply to this
/// request (for example an API-key limit on a request without an API key).
///
/// Implemented for closures:
///
/// ```
/// use core_backend_ratelimit::{KeyExtractor, RateLimitKey, RequestParts};
///
/// let by_tenant = |req: &RequestParts<'_>| {
///     req.headers.get("x-tenant").and_then(|v| v.to_str().ok()).map(RateLimitKey::from)
/// };
/// let req = http::Request::builder().header("x-tenant", "acme").body(()).unwrap();
/// assert_eq!(by_tenant.extract(&RequestParts::new(&req)), Some(RateLimitKey::from("acme")));
/// ```
pub trait KeyExtractor: Send + Sync + 'static {
    /// The key for this request.
    fn extract(&self, req: &RequestParts<'_>) -> Option<RateLimitKey>;
}

impl<F> KeyExtractor for F
where
    F: Fn(&RequestParts<'_>) -> Option<RateLimitKey> + Send + Sync + 'static,
{
    fn extract(&self, req: &RequestParts<'_>) -> Option<RateLimitKey> {
        self(req)
    }
}

/// One bucket shared by every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalKey;

impl KeyExtractor for GlobalKey {
    fn extract(&self, _req: &RequestParts<'_>) -> Option<RateLimitKey> {
        Some(RateLimitKey::Global)
    }
}

/// The value of a request header: a user id, an API key (never logged: see
/// [`RateLimitKey`]'s `Debug`). Requests without the header are not limited by this key.
#[derive(Debug, Clone)]
pub struct HeaderKey {
    name: HeaderName,
}

impl HeaderKey {
    /// Keys on the header `name`.
    pub fn new(name: HeaderName) -> Self {
        Self { name }
    }
}

impl KeyExtractor for HeaderKey {
    fn extract(&self, req: &RequestParts<'_>) -> Option<RateLimitKey> {
        let value = req.headers.get(&self.name)?;
        Some(RateLimitKey::Text(
            String::from_utf8_lossy(value.as_bytes()).into(),
        ))
    }
}

/// The route template (`/v1/notes/{id}`, from axum's `MatchedPath`), falling back to the
/// request path when no route matched or without the `axum` feature.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteKey;

impl KeyExtractor for RouteKey {
    fn extract(&self, req: &RequestParts<'_>) -> Option<RateLimitKey> {
        #[cfg(feature = "axum")]
        if let Some(path) = req.extensions.get::<axum::extract::MatchedPath>() {
            return Some(RateLimitKey::text(path.as_str()));
        }
        Some(RateLimitKey::text(req.uri.path()))
    }
}

/// Which header carries the chain of forwarding proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (NGINX, HAProxy, Envoy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
    /// Ignore forwarding headers: the socket peer is the client.
    None,
}

/// The client IP address, seen through a list of trusted proxies.
///
/// The socket peer comes from axum's `ConnectInfo<SocketAddr>` or a plain `SocketAddr`
/// request extension (what hyper-based servers can insert). If the peer is a trusted proxy,
/// the forwarding header ([`ForwardedHeader`], one only: reading a header your proxy does not
/// overwrite lets clients choose their own key) is walked **right to left**, skipping trusted
/// proxies; the first untrusted address is the client. When every hop is trusted, the leftmost
/// one is. An entry that is not an IP (`unknown`, an obfuscated RFC 7239 node, garbage) stops
/// the walk at the last address that was vouched for.
///
/// Without a known peer every such request shares the key `RateLimitKey::Text("unknown-client")`.
///
/// ```
/// use core_backend_ratelimit::{ClientIp, KeyExtractor, RateLimitKey, RequestParts};
/// use std::net::SocketAddr;
///
/// let client_ip = ClientIp::new().trusted_proxies(["10.0.0.0/8".parse().unwrap()]);
/// let mut req = http::Request::builder()
///     .header("x-forwarded-for", "198.51.100.7, 10.1.2.3")
///     .body(())
///     .unwrap();
/// req.extensions_mut().insert("10.0.0.1:443".parse::<SocketAddr>().unwrap());
/// assert_eq!(
///     client_ip.extract(&RequestParts::new(&req)),
///     Some(RateLimitKey::Ip("198.51.100.7".parse().unwrap()))
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientIp {
    trusted: Arc<[IpNet]>,
    header: ForwardedHeader,
}

impl ClientIp {
    /// The socket peer is the client; no proxy is trusted.
    pub fn new() -> Self {
        Self::default()
    }

    /// The networks whose addresses are proxies allowed to name the client.
    ///
    /// Defaults to none.
    pub fn trusted_proxies(mut self, nets: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted = nets.into_iter().collect();
        self
    }

    /// The header the trusted proxies write.
    ///
    /// Defaults to [`ForwardedHeader::XForwardedFor`].
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the client address from a peer address and the forwarding headers.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if self.trusted.is_empty() || !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = match self.header {
            ForwardedHeader::None => return peer,
            ForwardedHeader::XForwardedFor => headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_x_forwarded_for)
                .collect(),
            ForwardedHeader::Forwarded => headers
                .get_all(http::header::FORWARDED)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_forwarded_for)
                .collect(),
        };
        walk_right_to_left(peer, &hops, |ip| self.is_trusted(ip))
    }
}

/// Peer address from the request extensions.
fn peer_addr(ext: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    ext.get::<SocketAddr>().map(SocketAddr::ip)
}

impl KeyExtractor for ClientIp {
    fn extract(&self, req: &RequestParts<'_>) -> Option<RateLimitKey> {
        Some(match peer_addr(req.extensions) {
            Some(peer) => RateLimitKey::Ip(self.resolve(peer, req.headers)),
            None => RateLimitKey::text("unknown-client"),
        })
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what dual-stack sockets report) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The trusted-proxy walk over `hops` (leftmost = farthest from us); `None` is a hop that is
/// not an IP address.
pub(crate) fn walk_right_to_left(
    peer: IpAddr,
    hops: &[Option<IpAddr>],
    trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    let mut vouched = peer;
    for hop in hops.iter().rev() {
        match hop.map(canonical) {
            Some(ip) if trusted(ip) => vouched = ip,
            Some(ip) => return ip,
            None => return vouched,
        }
    }
    vouched
}

/// Parses one `X-Forwarded-For` value: comma-separated addresses, optionally with a port
/// (`1.2.3.4:80`, `[::1]:80`). Entries that are not addresses come back as `None`.
pub fn parse_x_forwarded_for(value: &str) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_node)
}

/// Parses one `Forwarded` value (RFC 7239) and returns the `for=` node of each element, in
/// order. Elements without `for=` are skipped; nodes that are not addresses (`unknown`,
/// `_hidden`) come back as `None`.
pub fn parse_forwarded_for(value: &str) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    split_unquoted(value, ',').filter_map(|element| {
        split_unquoted(element, ';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("for") {
                return None;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some(parse_node(v))
        })
    })
}

/// Splits on `sep` outside double quotes (a `\` escapes inside quotes).
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

/// An address, `v4:port`, `[v6]` or `[v6]:port`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        return inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (host, port) = node.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_forwarded_examples_from_rfc7239() {
        let v: Vec<_> = parse_forwarded_for(
            r#"for="_gazonk", For="[2001:db8:cafe::17]:4711", for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17:80, proto=https"#,
        )
        .collect();
        assert_eq!(
            v,
            vec![
                None,
                Some(ip("2001:db8:cafe::17")),
                Some(ip("192.0.2.60")),
                Some(ip("198.51.100.17"))
            ]
        );
        let v: Vec<_> = parse_forwarded_for(r#"for=unknown;by="a,b;c", for="[::1]""#).collect();
        assert_eq!(v, vec![None, Some(ip("::1"))]);
    }

    #[test]
    fn parses_x_forwarded_for() {
        let v: Vec<_> =
            parse_x_forwarded_for(" 203.0.113.5 , 10.0.0.1:8080,[::1]:9, garbage,, 1.2.3.4:x")
                .collect();
        assert_eq!(
            v,
            vec![
                Some(ip("203.0.113.5")),
                Some(ip("10.0.0.1")),
                Some(ip("::1")),
                None,
                None
            ]
        );
        assert_eq!(parse_node("[::1]x"), None);
        assert_eq!(parse_node("[::1"), None);
    }

    fn request(peer: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(()).unwrap();
        req.extensions_mut()
            .insert(peer.parse::<SocketAddr>().unwrap());
        req
    }

    #[test]
    fn client_ip_walk() {
        let x = ClientIp::new().trusted_proxies([
            "10.0.0.0/8".parse().unwrap(),
            "192.168.0.1/32".parse().unwrap(),
        ]);
        let key = |req: &http::Request<()>| x.extract(&RequestParts::new(req)).unwrap();
        // untrusted peer: headers ignored
        let r = request("203.0.113.9:1", &[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(key(&r), RateLimitKey::Ip(ip("203.0.113.9")));
        // trusted peer, trusted hop skipped
        let r = request(
            "10.0.0.2:1",
            &[("x-forwarded-for", "6.6.6.6, 1.1.1.1, 192.168.0.1")],
        );
        assert_eq!(key(&r), RateLimitKey::Ip(ip("1.1.1.1")));
        // multiple header lines are one list
        let r = request(
            "10.0.0.2:1",
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "10.9.9.9"),
            ],
        );
        assert_eq!(key(&r), RateLimitKey::Ip(ip("6.6.6.6")));
        // all trusted: leftmost
        let r = request("10.0.0.2:1", &[("x-forwarded-for", "10.0.0.7, 10.0.0.8")]);
        assert_eq!(key(&r), RateLimitKey::Ip(ip("10.0.0.7")));
        // garbage stops at the last vouched address
        let r = request(
            "10.0.0.2:1",
            &[("x-forwarded-for", "1.1.1.1, nonsense, 10.0.0.9")],
        );
        assert_eq!(key(&r), RateLimitKey::Ip(ip("10.0.0.9")));
        // no header
        let r = request("10.0.0.2:1", &[]);
        assert_eq!(key(&r), RateLimitKey::Ip(ip("10.0.0.2")));
        // mapped IPv6 peer counts as IPv4
        let r = request("[::ffff:10.0.0.2]:1", &[("x-forwarded-for", "5.5.5.5")]);
        assert_eq!(key(&r), RateLimitKey::Ip(ip("5.5.5.5")));
        // Forwarded header selection, XFF then ignored
        let f = x.clone().header(ForwardedHeader::Forwarded);
        let r = request(
            "10.0.0.2:1",
            &[
                ("forwarded", "for=7.7.7.7, for=10.0.0.3"),
                ("x-forwarded-for", "8.8.8.8"),
            ],
        );
        assert_eq!(
            f.extract(&RequestParts::new(&r)),
            Some(RateLimitKey::Ip(ip("7.7.7.7")))
        );
        let n = x.clone().header(ForwardedHeader::None);
        assert_eq!(
            n.extract(&RequestParts::new(&r)),
            Some(RateLimitKey::Ip(ip("10.0.0.2")))
        );
        // no peer at all
        let r = http::Request::new(());
        assert_eq!(
            x.extract(&RequestParts::new(&r)),
            Some(RateLimitKey::text("unknown-client"))
        );
    }

    #[test]
    fn simple_extractors() {
        let mut r = http::Request::builder()
            .uri("/v1/notes/5")
            .header("x-api-key", "k1")
            .body(())
            .unwrap();
        let parts = RequestParts::new(&r);
        assert_eq!(GlobalKey.extract(&parts), Some(RateLimitKey::Global));
        let h = HeaderKey::new(HeaderName::from_static("x-api-key"));
        assert_eq!(h.extract(&parts), Some(RateLimitKey::from("k1")));
        assert_eq!(
            HeaderKey::new(HeaderName::from_static("x-user")).extract(&parts),
            None
        );
        assert_eq!(
            RouteKey.extract(&parts),
            Some(RateLimitKey::from("/v1/notes/5"))
        );
        r.extensions_mut().insert(ip("1.2.3.4"));
        assert_eq!(r.method(), Method::GET);
    }

    /// Reference model of the walk: drop trusted hops from the right, then take the next one.
    fn model(peer: IpAddr, hops: &[Option<IpAddr>], trusted: &[IpNet]) -> IpAddr {
        let t = |ip: IpAddr| trusted.iter().any(|n| n.contains(&ip));
        if !t(peer) {
            return peer;
        }
        let mut chain = vec![Some(peer)];
        chain.extend(hops.iter().rev().copied());
        let mut last = peer;
        for hop in chain {
            match hop {
                None => return last,
                Some(ip) if !t(ip) => return ip,
                Some(ip) => last = ip,
            }
        }
        last
    }

    fn small_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u8..4, 0u8..4).prop_map(|(a, b)| IpAddr::from([10, 0, a, b])),
            (0u8..4).prop_map(|b| IpAddr::from([203, 0, 113, b])),
            (0u16..4).prop_map(|b| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, b])),
        ]
    }

    proptest! {
        #[test]
        fn forwarded_parsers_never_panic(s in "\\PC*") {
            let _ = parse_forwarded_for(&s).count();
            let _ = parse_x_forwarded_for(&s).count();
        }

        #[test]
        fn forwarded_parsers_never_panic_on_structured_noise(s in "[fFoOrR=;,\"\\[\\]:0-9a-f._ \\\\]{0,64}") {
            let _ = parse_forwarded_for(&s).count();
            let _ = parse_x_forwarded_for(&s).count();
        }

        #[test]
        fn walk_matches_model(
            peer in small_ip(),
            hops in proptest::collection::vec(proptest::option::weighted(0.9, small_ip()), 0..6),
            trust_10 in any::<bool>(),
            trust_doc in any::<bool>(),
        ) {
            let mut trusted = Vec::new();
            if trust_10 { trusted.push("10.0.0.0/16".parse::<IpNet>().unwrap()); }
            if trust_doc { trusted.push("2001:db8::/126".parse::<IpNet>().unwrap()); }
            let x = ClientIp::new().trusted_proxies(trusted.clone());
            // render the hops into a real X-Forwarded-For header and a Forwarded header
            let xff = hops.iter().map(|h| h.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())).collect::<Vec<_>>().join(", ");
            let fwd = hops.iter().map(|h| match h {
                Some(IpAddr::V6(v6)) => format!("for=\"[{v6}]:443\""),
                Some(v4) => format!("for={v4}"),
                None => "for=unknown".to_owned(),
            }).collect::<Vec<_>>().join(", ");
            let mut headers = HeaderMap::new();
            if !hops.is_empty() {
                headers.insert("x-forwarded-for", xff.parse().unwrap());
                headers.insert("forwarded", fwd.parse().unwrap());
            }
            let expected = model(peer, &hops, &trusted);
            prop_assert_eq!(x.resolve(peer, &headers), expected);
            prop_assert_eq!(x.clone().header(ForwardedHeader::Forwarded).resolve(peer, &headers), expected);
        }
    }
}
