//! `google.api.http` path templates: parser, matcher and axum route rendering.
//!
//! The grammar (from `google/api/http.proto`):
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! `{field}` is short for `{field=*}`. `**` matches zero or more segments and must be the last
//! segment (before the verb). Variables do not nest and a field is bound at most once.
//!
//! Percent-decoding follows the spec: a variable bound to a single `*` segment is decoded
//! fully (`%2F` becomes `/`); a variable spanning several segments is decoded except for
//! `%2F` / `%2f`, which stay as they are so the segment structure survives.

use std::fmt;

/// Most parameters rendered into an axum route; the rest of the path becomes a catch-all.
/// (axum's router supports at most 26 named parameters per route.)
const MAX_AXUM_PARAMS: usize = 20;

/// A parsed `google.api.http` path template such as `/v1/{name=shelves/*/books/*}:publish`.
///
/// # Example
///
/// ```
/// use core_backend_gateway::PathTemplate;
///
/// let template: PathTemplate = "/v1/{name=shelves/*}/books/{book.id}:archive".parse()?;
/// let captures = template.match_path("/v1/shelves/s1/books/42:archive").expect("matches");
/// assert_eq!(captures[0], (vec!["name".to_owned()], "shelves/s1".to_owned()));
/// assert_eq!(captures[1], (vec!["book".to_owned(), "id".to_owned()], "42".to_owned()));
/// assert_eq!(template.axum_path(), "/v1/shelves/{name}/books/{book.id}");
/// # Ok::<(), core_backend_gateway::TemplateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Wildcard,
    DoubleWildcard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Variable {
    field_path: Vec<String>,
    /// Range of segment indices the variable covers.
    start: usize,
    end: usize,
}

/// Why a path template could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    template: String,
    position: usize,
    kind: TemplateErrorKind,
}

/// The kind of a [`TemplateError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateErrorKind {
    /// The template does not start with `/`.
    MissingLeadingSlash,
    /// A segment is empty (`//`, a trailing `/`, or `/` alone).
    EmptySegment,
    /// A character not allowed at this place.
    UnexpectedChar(char),
    /// The template ended in the middle of a variable.
    UnexpectedEnd,
    /// A field path inside `{...}` is empty or not made of identifiers.
    InvalidFieldPath,
    /// A variable inside a variable.
    NestedVariable,
    /// `**` somewhere other than the last segment.
    DoubleWildcardNotLast,
    /// The same field is bound by two variables.
    DuplicateVariable(String),
    /// `:` not followed by a verb literal.
    EmptyVerb,
}

impl TemplateError {
    /// The kind of error.
    pub fn kind(&self) -> &TemplateErrorKind {
        &self.kind
    }

    /// Byte offset in the template where the error was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The template that failed to parse.
    pub fn template(&self) -> &str {
        &self.template
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid path template {:?} at byte {}: ",
            self.template, self.position
        )?;
        match &self.kind {
            TemplateErrorKind::MissingLeadingSlash => f.write_str("must start with `/`"),
            TemplateErrorKind::EmptySegment => f.write_str("empty path segment"),
            TemplateErrorKind::UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            TemplateErrorKind::UnexpectedEnd => f.write_str("unexpected end of template"),
            TemplateErrorKind::InvalidFieldPath => f.write_str("invalid field path"),
            TemplateErrorKind::NestedVariable => f.write_str("variables cannot be nested"),
            TemplateErrorKind::DoubleWildcardNotLast => {
                f.write_str("`**` must be the last segment")
            }
            TemplateErrorKind::DuplicateVariable(field) => {
                write!(f, "field `{field}` is bound twice")
            }
            TemplateErrorKind::EmptyVerb => f.write_str("empty verb after `:`"),
        }
    }
}

impl std::error::Error for TemplateError {}

fn is_literal_char(c: char) -> bool {
    !matches!(c, '/' | '{' | '}' | '*' | ':' | '=' | '?' | '#')
        && !c.is_control()
        && !c.is_whitespace()
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
}

impl Parser<'_> {
    fn err(&self, kind: TemplateErrorKind) -> TemplateError {
        TemplateError {
            template: self.src.to_owned(),
            position: self.pos,
            kind,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.pos += expected.len_utf8();
            true
        } else {
            false
        }
    }

    fn literal(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !is_literal_char(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.src[start..self.pos].to_owned()
    }

    /// Segments = Segment { "/" Segment }, stopping before `}`, `:` or the end.
    fn segments(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        loop {
            self.segment(in_variable)?;
            if !self.eat('/') {
                return Ok(());
            }
        }
    }

    fn segment(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                if self.eat('*') {
                    self.segments.push(Segment::DoubleWildcard);
                } else {
                    self.segments.push(Segment::Wildcard);
                }
                Ok(())
            }
            Some('{') if in_variable => Err(self.err(TemplateErrorKind::NestedVariable)),
            Some('{') => {
                self.pos += 1;
                self.variable()
            }
            Some(c) if is_literal_char(c) => {
                let lit = self.literal();
                self.segments.push(Segment::Literal(lit));
                Ok(())
            }
            None if in_variable => Err(self.err(TemplateErrorKind::UnexpectedEnd)),
            Some('/') | None => Err(self.err(TemplateErrorKind::EmptySegment)),
            Some(c) => Err(self.err(TemplateErrorKind::UnexpectedChar(c))),
        }
    }

    fn variable(&mut self) -> Result<(), TemplateError> {
        let mut field_path = Vec::new();
        loop {
            let start = self.pos;
            match self.peek() {
                Some(c) if is_ident_start(c) => {}
                None => return Err(self.err(TemplateErrorKind::UnexpectedEnd)),
                Some(_) => return Err(self.err(TemplateErrorKind::InvalidFieldPath)),
            }
            while self.peek().is_some_and(is_ident_char) {
                self.pos += 1;
            }
            field_path.push(self.src[start..self.pos].to_owned());
            if !self.eat('.') {
                break;
            }
        }
        let name = field_path.join(".");
        if self
            .variables
            .iter()
            .any(|v| v.field_path.join(".") == name)
        {
            return Err(self.err(TemplateErrorKind::DuplicateVariable(name)));
        }
        let start = self.segments.len();
        if self.eat('=') {
            self.segments(true)?;
        } else {
            self.segments.push(Segment::Wildcard);
        }
        match self.bump() {
            Some('}') => {}
            None => return Err(self.err(TemplateErrorKind::UnexpectedEnd)),
            Some(c) => {
                self.pos -= c.len_utf8();
                return Err(self.err(TemplateErrorKind::UnexpectedChar(c)));
            }
        }
        self.variables.push(Variable {
            field_path,
            start,
            end: self.segments.len(),
        });
        Ok(())
    }
}

impl std::str::FromStr for PathTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl PathTemplate {
    /// Parses a template.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut p = Parser {
            src: template,
            pos: 0,
            segments: Vec::new(),
            variables: Vec::new(),
        };
        if !p.eat('/') {
            return Err(p.err(TemplateErrorKind::MissingLeadingSlash));
        }
        p.segments(false)?;
        let mut verb = None;
        if p.eat(':') {
            let v = p.literal();
            if v.is_empty() {
                return Err(p.err(TemplateErrorKind::EmptyVerb));
            }
            verb = Some(v);
        }
        if let Some(c) = p.peek() {
            return Err(p.err(TemplateErrorKind::UnexpectedChar(c)));
        }
        let last = p.segments.len().saturating_sub(1);
        if p.segments[..last].contains(&Segment::DoubleWildcard) {
            p.pos = 0;
            return Err(p.err(TemplateErrorKind::DoubleWildcardNotLast));
        }
        Ok(Self {
            source: template.to_owned(),
            segments: p.segments,
            variables: p.variables,
            verb,
        })
    }

    /// The template text as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The custom verb (the part after the final `:`), if any.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// Field paths bound by the template's variables, in order (`{a.b}` gives `["a", "b"]`).
    pub fn field_paths(&self) -> impl Iterator<Item = &[String]> {
        self.variables.iter().map(|v| v.field_path.as_slice())
    }

    /// Matches a request path (as sent, percent-encoded, without the query string).
    ///
    /// Returns each variable's field path and decoded value, in template order, or `None`
    /// when the path does not match (or a variable does not decode to UTF-8).
    pub fn match_path(&self, path: &str) -> Option<Vec<(Vec<String>, String)>> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.verb {
            Some(verb) => strip_verb(rest, verb)?,
            None => rest,
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let n = self.segments.len();
        let tail = matches!(self.segments.last(), Some(Segment::DoubleWildcard));
        if tail {
            if parts.len() + 1 < n {
                return None;
            }
        } else if parts.len() != n {
            return None;
        }
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Literal(lit) => {
                    let part = parts[i];
                    if part != lit && decode(part, false).as_deref() != Some(lit.as_str()) {
                        return None;
                    }
                }
                Segment::Wildcard => {
                    if parts[i].is_empty() {
                        return None;
                    }
                }
                Segment::DoubleWildcard => {}
            }
        }
        let mut out = Vec::with_capacity(self.variables.len());
        for var in &self.variables {
            let end = if tail && var.end == n {
                parts.len()
            } else {
                var.end
            };
            let start = var.start.min(end);
            let raw = parts[start..end].join("/");
            let single = var.end - var.start == 1 && self.segments[var.start] == Segment::Wildcard;
            out.push((var.field_path.clone(), decode(&raw, !single)?));
        }
        Some(out)
    }

    /// The route path to register with axum: literals as written, variables as `{field.path}`
    /// (a second wildcard of the same variable as `{field.path_2}`), anonymous `*` as
    /// `{_wildcard}`, a trailing `**` as a catch-all `{*field.path}`. The verb is kept only
    /// after a literal last segment (`/v1/notes:batchGet`); after a variable it is left out,
    /// since axum routes cannot express a suffix after a parameter (the variable then
    /// captures `id:verb` and [`match_path`](Self::match_path) separates them).
    pub fn axum_path(&self) -> String {
        let mut out = String::new();
        let mut params = 0usize;
        let mut anonymous = 0usize;
        for (i, seg) in self.segments.iter().enumerate() {
            let var = self
                .variables
                .iter()
                .find(|v| (v.start..v.end).contains(&i));
            let name = var.map(|v| {
                let base = v.field_path.join(".");
                let ordinal = self.segments[v.start..i]
                    .iter()
                    .filter(|s| !matches!(s, Segment::Literal(_)))
                    .count();
                if ordinal == 0 {
                    base
                } else {
                    format!("{base}_{}", ordinal + 1)
                }
            });
            let mut anon = || {
                anonymous += 1;
                if anonymous == 1 {
                    "_wildcard".to_owned()
                } else {
                    format!("_wildcard{anonymous}")
                }
            };
            out.push('/');
            match seg {
                Segment::Literal(lit) => push_encoded(&mut out, lit),
                Segment::Wildcard if params >= MAX_AXUM_PARAMS => {
                    out.push_str("{*_rest}");
                    return out;
                }
                Segment::Wildcard => {
                    params += 1;
                    let name = name.unwrap_or_else(&mut anon);
                    out.push('{');
                    out.push_str(&name);
                    out.push('}');
                }
                Segment::DoubleWildcard => {
                    let name = name.unwrap_or_else(&mut anon);
                    out.push_str("{*");
                    out.push_str(&name);
                    out.push('}');
                }
            }
        }
        if let (Some(verb), Some(Segment::Literal(_))) = (&self.verb, self.segments.last()) {
            out.push(':');
            push_encoded(&mut out, verb);
        }
        out
    }

    /// The axum route with parameter names erased: templates with the same shape share one
    /// axum route (axum refuses two routes that differ only in parameter names).
    pub(crate) fn route_shape(&self) -> String {
        let path = self.axum_path();
        let mut out = String::with_capacity(path.len());
        let mut in_param = false;
        let mut chars = path.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    in_param = true;
                    out.push('{');
                    if chars.peek() == Some(&'*') {
                        out.push('*');
                    }
                }
                '}' => {
                    in_param = false;
                    out.push('}');
                }
                _ if in_param => {}
                _ => out.push(c),
            }
        }
        out
    }

    /// Number of literal segments, used to try more specific templates first.
    pub(crate) fn specificity(&self) -> (bool, usize, bool) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let no_tail = !matches!(self.segments.last(), Some(Segment::DoubleWildcard));
        (self.verb.is_some(), literals, no_tail)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Characters of a literal that clients send percent-encoded: axum matches the raw path, so
/// the route must spell them the way they arrive.
const ENCODE_IN_ROUTE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'|');

/// Strips `:verb` from the end of `path`, the verb as written or percent-encoded.
fn strip_verb<'a>(path: &'a str, verb: &str) -> Option<&'a str> {
    if let Some(rest) = path.strip_suffix(verb).and_then(|r| r.strip_suffix(':')) {
        return Some(rest);
    }
    let encoded = percent_encoding::utf8_percent_encode(verb, ENCODE_IN_ROUTE).to_string();
    path.strip_suffix(encoded.as_str())
        .and_then(|r| r.strip_suffix(':'))
}

fn push_encoded(out: &mut String, literal: &str) {
    out.extend(percent_encoding::utf8_percent_encode(
        literal,
        ENCODE_IN_ROUTE,
    ));
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `raw`; with `keep_slash`, `%2F`/`%2f` stay encoded. A `%` not followed by
/// two hex digits is kept as is. `None` if the result is not UTF-8.
pub(crate) fn decode(raw: &str, keep_slash: bool) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            let value = h * 16 + l;
            if keep_slash && value == b'/' {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(value);
            }
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str, p: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(t)
            .expect("template parses")
            .match_path(p)
            .map(|v| v.into_iter().map(|(k, v)| (k.join("."), v)).collect())
    }

    #[allow(clippy::unnecessary_wraps)]
    fn kv(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn literal_and_simple_variable() {
        assert_eq!(m("/v1/notes/{id}", "/v1/notes/42"), kv(&[("id", "42")]));
        assert_eq!(m("/v1/notes/{id}", "/v1/notes"), None);
        assert_eq!(m("/v1/notes/{id}", "/v1/notes/"), None);
        assert_eq!(m("/v1/notes/{id}", "/v1/notes/1/2"), None);
        assert_eq!(m("/v1/notes", "/v1/notes"), kv(&[]));
        assert_eq!(m("/v1/notes", "/v2/notes"), None);
    }

    #[test]
    fn nested_field_and_multi_segment_variables() {
        assert_eq!(
            m("/v1/{name=shelves/*/books/*}", "/v1/shelves/a/books/b"),
            kv(&[("name", "shelves/a/books/b")])
        );
        assert_eq!(
            m("/v1/{name=shelves/*/books/*}", "/v1/shelves/a/notes/b"),
            None
        );
        assert_eq!(
            m("/v1/{book.shelf.id}", "/v1/7"),
            kv(&[("book.shelf.id", "7")])
        );
    }

    #[test]
    fn double_wildcard() {
        assert_eq!(
            m("/files/{path=**}", "/files/a/b/c"),
            kv(&[("path", "a/b/c")])
        );
        assert_eq!(m("/files/{path=**}", "/files"), kv(&[("path", "")]));
        assert_eq!(
            m("/files/{path=x/**}", "/files/x/1/2"),
            kv(&[("path", "x/1/2")])
        );
        assert_eq!(m("/files/{path=x/**}", "/files/y/1/2"), None);
        assert_eq!(m("/files/**", "/files/a/b"), kv(&[]));
        assert_eq!(
            m("/files/{path=**}:get", "/files/a/b:get"),
            kv(&[("path", "a/b")])
        );
    }

    #[test]
    fn verbs() {
        assert_eq!(
            m("/v1/notes/{id}:archive", "/v1/notes/1:archive"),
            kv(&[("id", "1")])
        );
        assert_eq!(m("/v1/notes/{id}:archive", "/v1/notes/1"), None);
        assert_eq!(m("/v1/notes/{id}:archive", "/v1/notes/1:other"), None);
        assert_eq!(m("/v1/notes:batchGet", "/v1/notes:batchGet"), kv(&[]));
        assert_eq!(m("/v1/notes/{id}:archive", "/v1/notes/:archive"), None);
    }

    #[test]
    fn percent_decoding_rules() {
        assert_eq!(m("/v1/{id}", "/v1/a%2Fb%20c"), kv(&[("id", "a/b c")]));
        assert_eq!(
            m("/v1/{name=**}", "/v1/a%2Fb/c%20d"),
            kv(&[("name", "a%2Fb/c d")])
        );
        assert_eq!(
            m("/v1/{name=x/*}", "/v1/x/a%2fb"),
            kv(&[("name", "x/a%2fb")])
        );
        assert_eq!(m("/v1/{id}", "/v1/%zz"), kv(&[("id", "%zz")]));
        assert_eq!(m("/v1/{id}", "/v1/%FF"), None);
        assert_eq!(m("/v1/caf%C3%A9", "/v1/caf%C3%A9"), kv(&[]));
        assert_eq!(m("/v1/café", "/v1/caf%C3%A9"), kv(&[]));
        assert_eq!(m("/v1/x:vérb", "/v1/x:v%C3%A9rb"), kv(&[]));
        assert_eq!(m("/v1/x:vérb", "/v1/x:vérb"), kv(&[]));
    }

    #[test]
    fn parse_errors_are_typed() {
        let kind = |t: &str| PathTemplate::parse(t).expect_err(t).kind().clone();
        assert_eq!(kind("v1/x"), TemplateErrorKind::MissingLeadingSlash);
        assert_eq!(kind(""), TemplateErrorKind::MissingLeadingSlash);
        assert_eq!(kind("/"), TemplateErrorKind::EmptySegment);
        assert_eq!(kind("/a//b"), TemplateErrorKind::EmptySegment);
        assert_eq!(kind("/a/"), TemplateErrorKind::EmptySegment);
        assert_eq!(kind("/{a"), TemplateErrorKind::UnexpectedEnd);
        assert_eq!(kind("/{1a}"), TemplateErrorKind::InvalidFieldPath);
        assert_eq!(kind("/{a.}"), TemplateErrorKind::InvalidFieldPath);
        assert_eq!(kind("/{a={b}}"), TemplateErrorKind::NestedVariable);
        assert_eq!(kind("/**/a"), TemplateErrorKind::DoubleWildcardNotLast);
        assert_eq!(
            kind("/{a}/{a}"),
            TemplateErrorKind::DuplicateVariable("a".into())
        );
        assert_eq!(kind("/a:"), TemplateErrorKind::EmptyVerb);
        assert_eq!(kind("/a}"), TemplateErrorKind::UnexpectedChar('}'));
        assert_eq!(kind("/a?b"), TemplateErrorKind::UnexpectedChar('?'));
        let err = PathTemplate::parse("/{a").expect_err("bad");
        assert_eq!(err.position(), 3);
        assert!(err.to_string().contains("/{a"));
    }

    #[test]
    fn axum_paths() {
        let a = |t: &str| PathTemplate::parse(t).expect("parses").axum_path();
        assert_eq!(a("/v1/notes/{id}"), "/v1/notes/{id}");
        assert_eq!(a("/v1/notes/{id}:archive"), "/v1/notes/{id}");
        assert_eq!(a("/v1/notes:batchGet"), "/v1/notes:batchGet");
        assert_eq!(
            a("/v1/{name=shelves/*/books/*}"),
            "/v1/shelves/{name}/books/{name_2}"
        );
        assert_eq!(a("/v1/{a.b}/*/*"), "/v1/{a.b}/{_wildcard}/{_wildcard2}");
        assert_eq!(a("/files/{path=**}"), "/files/{*path}");
        assert_eq!(a("/files/**:x"), "/files/{*_wildcard}");
        assert_eq!(a("/v1/café|x:vérb"), "/v1/caf%C3%A9%7Cx:v%C3%A9rb");
        let shape = |t: &str| PathTemplate::parse(t).expect("parses").route_shape();
        assert_eq!(shape("/v1/{a}/x/{b=**}"), shape("/v1/{c}/x/**"));
        assert_eq!(shape("/v1/{id}"), "/v1/{}");
        assert_eq!(shape("/v1/{id=**}"), "/v1/{*}");
    }

    #[test]
    fn too_many_parameters_collapse_into_catch_all() {
        let t = format!("/{}", vec!["*"; 30].join("/"));
        let template = PathTemplate::parse(&t).expect("parses");
        let path = template.axum_path();
        assert!(path.ends_with("{*_rest}"), "{path}");
        assert_eq!(path.matches('{').count(), MAX_AXUM_PARAMS + 1);
    }
}
