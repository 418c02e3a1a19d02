//! Parsers for `Cache-Control`, `If-None-Match`, `Vary` and entity tags: total functions over
//! untrusted bytes that never panic (see the property tests).

use http::{HeaderMap, HeaderName, HeaderValue, header};
use sha2::{Digest, Sha256};

/// Directives of a `Cache-Control` header that a shared cache acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheControl {
    /// `max-age=N` (seconds); an unparsable value reads as `0`.
    pub max_age: Option<u64>,
    /// `s-maxage=N` (seconds), which a shared cache prefers over `max-age`.
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (with or without a field list, treated as a whole-response `no-cache`).
    pub no_cache: bool,
    /// `private` (with or without a field list, treated as not storable in a shared cache).
    pub private: bool,
    /// `public`.
    pub public: bool,
}

impl CacheControl {
    /// Reads every `Cache-Control` field of `headers`; unknown directives are ignored.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            for (name, arg) in split_list(value.as_bytes(), true).filter_map(directive) {
                match name.as_str() {
                    "max-age" => cc.max_age = Some(delta_seconds(arg)),
                    "s-maxage" => cc.s_maxage = Some(delta_seconds(arg)),
                    "no-store" => cc.no_store = true,
                    "no-cache" => cc.no_cache = true,
                    "private" => cc.private = true,
                    "public" => cc.public = true,
                    _ => {}
                }
            }
        }
        cc
    }
}

/// Splits a comma-separated field value, keeping commas inside quotes. `escapes`: whether a
/// backslash escapes the next byte inside quotes (quoted-string), which entity tags do not allow.
fn split_list(v: &[u8], escapes: bool) -> impl Iterator<Item = &[u8]> {
    let mut rest = v;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = rest.len();
            for (i, &b) in rest.iter().enumerate() {
                if escaped {
                    escaped = false;
                } else if escapes && in_quotes && b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_quotes = !in_quotes;
                } else if b == b',' && !in_quotes {
                    end = i;
                    break;
                }
            }
            let item = trim(&rest[..end]);
            rest = rest.get(end + 1..).unwrap_or_default();
            if !item.is_empty() {
                return Some(item);
            }
        }
    })
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', tail @ ..] = v {
        v = tail;
    }
    while let [head @ .., b' ' | b'\t'] = v {
        v = head;
    }
    v
}

fn directive(item: &[u8]) -> Option<(String, Option<&[u8]>)> {
    let (name, arg) = match item.iter().position(|&b| b == b'=') {
        Some(i) => (trim(&item[..i]), Some(trim(&item[i + 1..]))),
        None => (item, None),
    };
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    Some((
        name,
        arg.map(|a| {
            a.strip_prefix(b"\"")
                .and_then(|a| a.strip_suffix(b"\""))
                .unwrap_or(a)
        }),
    ))
}

/// RFC 9111 §1.2.2: digits only; too large saturates; anything else reads as `0` (stale).
fn delta_seconds(arg: Option<&[u8]>) -> u64 {
    match arg {
        Some(d) if !d.is_empty() && d.iter().all(u8::is_ascii_digit) => {
            d.iter().fold(0u64, |n, &b| {
                n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            })
        }
        _ => 0,
    }
}

/// An entity tag: opaque value plus the weak flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    /// `W/` prefix present.
    pub weak: bool,
    /// The opaque tag without quotes.
    pub tag: Vec<u8>,
}

impl EntityTag {
    /// Parses one entity tag (`"abc"` or `W/"abc"`); `None` when malformed.
    pub fn parse(v: &[u8]) -> Option<Self> {
        let v = trim(v);
        let (weak, v) = match v.strip_prefix(b"W/") {
            Some(rest) => (true, rest),
            None => (false, v),
        };
        let tag = v.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        // etagc = %x21 / %x23-7E / obs-text
        tag.iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
            .then(|| Self {
                weak,
                tag: tag.to_vec(),
            })
    }

    /// RFC 9110 §8.8.3.2 weak comparison: opaque tags equal, weakness ignored.
    pub fn weak_eq(&self, other: &Self) -> bool {
        self.tag == other.tag
    }
}

/// A parsed `If-None-Match` request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfNoneMatch {
    /// `*`: matches any current representation.
    Any,
    /// A list of entity tags.
    Tags(Vec<EntityTag>),
}

impl IfNoneMatch {
    /// Reads every `If-None-Match` field; `None` when absent or malformed (a malformed
    /// precondition is ignored, as RFC 9110 §13.1.2 allows).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut tags = Vec::new();
        let mut any = false;
        let mut seen = false;
        for value in headers.get_all(header::IF_NONE_MATCH) {
            seen = true;
            for item in split_list(value.as_bytes(), false) {
                if item == b"*" {
                    any = true;
                } else {
                    tags.push(EntityTag::parse(item)?);
                }
            }
        }
        match (seen, any) {
            (false, _) => None,
            (true, true) => Some(Self::Any),
            (true, false) if tags.is_empty() => None,
            (true, false) => Some(Self::Tags(tags)),
        }
    }

    /// Whether a representation with `etag` matches (so the answer is `304`).
    pub fn matches(&self, etag: Option<&EntityTag>) -> bool {
        match (self, etag) {
            (Self::Any, _) => true,
            (Self::Tags(tags), Some(etag)) => tags.iter().any(|t| t.weak_eq(etag)),
            (Self::Tags(_), None) => false,
        }
    }
}

/// A parsed `Vary` response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vary {
    /// `Vary: *` (or a malformed field name): the response cannot be reused.
    Any,
    /// The request header names that select the variant (empty: no `Vary`).
    Headers(Vec<HeaderName>),
}

impl Vary {
    /// Reads every `Vary` field of a response.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut names = Vec::new();
        for value in headers.get_all(header::VARY) {
            for item in split_list(value.as_bytes(), false) {
                if item == b"*" {
                    return Self::Any;
                }
                match HeaderName::from_bytes(item) {
                    Ok(name) if !names.contains(&name) => names.push(name),
                    Ok(_) => {}
                    Err(_) => return Self::Any,
                }
            }
        }
        Self::Headers(names)
    }
}

/// A strong `ETag` for `body`: the first 128 bits of its SHA-256, hex, quoted.
pub fn strong_etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let mut s = String::with_capacity(34);
    s.push('"');
    s.push_str(&hex::encode(&digest[..16]));
    s.push('"');
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn map(name: HeaderName, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name.clone(), HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn cache_control_directives() {
        let cc = CacheControl::from_headers(&map(
            header::CACHE_CONTROL,
            &[
                "public, max-age=60",
                "S-MAXAGE=\"120\", no-cache=\"set-cookie, x\", private",
            ],
        ));
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(120));
        assert!(cc.public && cc.no_cache && cc.private && !cc.no_store);
        let cc = CacheControl::from_headers(&map(header::CACHE_CONTROL, &["max-age=-1, no-store"]));
        assert_eq!(cc.max_age, Some(0));
        assert!(cc.no_store);
        let cc = CacheControl::from_headers(&map(
            header::CACHE_CONTROL,
            &["max-age=99999999999999999999999"],
        ));
        assert_eq!(cc.max_age, Some(u64::MAX));
    }

    #[test]
    fn if_none_match_lists_star_and_weak_comparison() {
        let inm =
            IfNoneMatch::from_headers(&map(header::IF_NONE_MATCH, &["W/\"a\", \"b,c\"", "\"d\""]))
                .expect("parsed");
        let strong_a = EntityTag::parse(b"\"a\"").expect("tag");
        let bc = EntityTag::parse(b"\"b,c\"").expect("tag");
        assert!(inm.matches(Some(&strong_a)), "weak comparison ignores W/");
        assert!(inm.matches(Some(&bc)));
        assert!(!inm.matches(Some(&EntityTag::parse(b"\"z\"").expect("tag"))));
        assert!(!inm.matches(None));
        assert_eq!(
            IfNoneMatch::from_headers(&map(header::IF_NONE_MATCH, &["*"])),
            Some(IfNoneMatch::Any)
        );
        assert_eq!(
            IfNoneMatch::from_headers(&map(header::IF_NONE_MATCH, &["abc"])),
            None
        );
        assert_eq!(IfNoneMatch::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn vary_names_and_star() {
        let v = Vary::from_headers(&map(
            header::VARY,
            &["Accept-Language, accept-encoding", "Accept-Language"],
        ));
        assert_eq!(
            v,
            Vary::Headers(vec![header::ACCEPT_LANGUAGE, header::ACCEPT_ENCODING])
        );
        assert_eq!(
            Vary::from_headers(&map(header::VARY, &["accept, *"])),
            Vary::Any
        );
        assert_eq!(
            Vary::from_headers(&map(header::VARY, &["bad name"])),
            Vary::Any
        );
        assert_eq!(Vary::from_headers(&HeaderMap::new()), Vary::Headers(vec![]));
    }

    #[test]
    fn strong_etag_is_quoted_and_stable() {
        let a = strong_etag(b"hello");
        assert_eq!(a, strong_etag(b"hello"));
        assert_ne!(a, strong_etag(b"hello!"));
        let parsed = EntityTag::parse(a.as_bytes()).expect("valid etag");
        assert!(!parsed.weak);
        assert_eq!(parsed.tag.len(), 32);
    }

    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        // Any byte a HeaderValue accepts: visible ASCII, space, tab, obs-text.
        proptest::collection::vec(
            prop_oneof![
                Just(b'"'),
                Just(b','),
                Just(b'='),
                Just(b'\\'),
                Just(b'*'),
                Just(b'W'),
                Just(b'/'),
                0x20u8..0x7f,
                Just(b'\t'),
                0x80u8..=0xff
            ],
            0..64,
        )
    }

    proptest! {
        #[test]
        fn parsers_never_panic(raw in header_bytes()) {
            let Ok(value) = HeaderValue::from_bytes(&raw) else { return Ok(()); };
            for name in [header::CACHE_CONTROL, header::IF_NONE_MATCH, header::VARY] {
                let mut h = HeaderMap::new();
                h.insert(name, value.clone());
                let _ = CacheControl::from_headers(&h);
                if let Some(inm) = IfNoneMatch::from_headers(&h) {
                    let _ = inm.matches(EntityTag::parse(&raw).as_ref());
                }
                let _ = Vary::from_headers(&h);
            }
        }

        #[test]
        fn etags_round_trip(tag in "[!#-~]{0,20}", weak: bool) {
            let text = format!("{}\"{tag}\"", if weak { "W/" } else { "" });
            let parsed = EntityTag::parse(text.as_bytes()).expect("valid");
            prop_assert_eq!(parsed.weak, weak);
            prop_assert_eq!(parsed.tag, tag.as_bytes().to_vec());
            let inm = IfNoneMatch::from_headers(&map(header::IF_NONE_MATCH, &[&format!("\"x\", {text}")])).expect("list");
            let strong = EntityTag { weak: false, tag: tag.into_bytes() };
            prop_assert!(inm.matches(Some(&strong)));
        }

        #[test]
        fn max_age_reads_any_number(n: u64) {
            let cc = CacheControl::from_headers(&map(header::CACHE_CONTROL, &[&format!("max-age={n}")]));
            prop_assert_eq!(cc.max_age, Some(n));
        }
    }
}
