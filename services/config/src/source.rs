//! Where a value came from, and the providers that feed figment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use crate::error::{ConfigError, ErrorKind};

/// The layer a configuration value came from.
///
/// Carried by every [`ConfigError`] that can say where the bad value was set, and by each
/// entry of an [`Explanation`](crate::Explanation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigSource {
    /// The built-in default, `T::default()`.
    Default,
    /// A configuration file.
    File {
        /// Path of the file, as it was given to the loader.
        path: PathBuf,
        /// 1-based line of the key (or of the syntax error), when it could be located.
        line: Option<usize>,
        /// 1-based column of a syntax error, when the parser reported one.
        column: Option<usize>,
    },
    /// An environment variable.
    Env {
        /// Exact name of the variable, e.g. `API_SERVER__ADDR`.
        var: String,
    },
    /// An explicit override set in code with [`ConfigLoader::set`](crate::ConfigLoader::set).
    Override,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in default"),
            Self::File { path, line, column } => {
                write!(f, "file {}", path.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                    if let Some(column) = column {
                        write!(f, ":{column}")?;
                    }
                }
                Ok(())
            }
            Self::Env { var } => write!(f, "env var {var}"),
            Self::Override => f.write_str("override set in code"),
        }
    }
}

/// The syntax of a configuration file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileFormat {
    /// `.toml`
    Toml,
    /// `.yaml` / `.yml`
    Yaml,
    /// `.json`
    Json,
}

impl FileFormat {
    /// The format for a path's extension (case-insensitive), or `None` if it is not one of
    /// `toml`, `yaml`, `yml`, `json`.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// Human name of the format.
    pub fn name(self) -> &'static str {
        match self {
            Self::Toml => "TOML",
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        }
    }
}

/// Tags used in figment metadata to recognise our layers again.
pub(crate) const TAG_DEFAULT: &str = "core-backend-config:default";
pub(crate) const TAG_ENV: &str = "core-backend-config:env";
pub(crate) const TAG_OVERRIDE: &str = "core-backend-config:override";

/// A provider holding an already-built dictionary under one metadata.
pub(crate) struct DictProvider {
    pub(crate) metadata: Metadata,
    pub(crate) dict: Dict,
}

impl Provider for DictProvider {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        let mut map = Map::new();
        map.insert(Profile::Default, self.dict.clone());
        Ok(map)
    }
}

/// A file that was read and parsed.
#[derive(Debug, Clone)]
pub(crate) struct LoadedFile {
    pub(crate) path: PathBuf,
    pub(crate) format: FileFormat,
    pub(crate) text: String,
    pub(crate) dict: Dict,
}

impl LoadedFile {
    pub(crate) fn provider(&self) -> DictProvider {
        DictProvider {
            metadata: Metadata::from(format!("{} file", self.format.name()), self.path.as_path()),
            dict: self.dict.clone(),
        }
    }
}

/// Parses `text` as a configuration file of `format` into a dictionary.
///
/// Syntax errors carry the parser's line and column.
pub(crate) fn parse_file(path: &Path, format: FileFormat, text: &str) -> Result<Dict, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Dict::new());
    }
    let syntax = |message: String, line: Option<usize>, column: Option<usize>| {
        ConfigError::new(ErrorKind::Syntax)
            .with_source(ConfigSource::File {
                path: path.to_path_buf(),
                line,
                column,
            })
            .with_message(message)
    };
    match format {
        FileFormat::Toml => toml::from_str::<Dict>(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_col(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            syntax(e.message().trim().to_owned(), line, column)
        }),
        FileFormat::Json => serde_json::from_str::<Dict>(text).map_err(|e| {
            let line = (e.line() > 0).then_some(e.line());
            let column = (e.column() > 0).then_some(e.column());
            syntax(strip_location(&e.to_string()), line, column)
        }),
        FileFormat::Yaml => {
            // libyaml's flow-collection handling is quadratic in nesting depth before
            // serde_yaml's own recursion limit can stop it; refuse absurd nesting up front.
            if let Some(offset) = flow_depth_exceeded(text, MAX_NESTING) {
                let (line, column) = line_col(text, offset);
                return Err(syntax(
                    format!("nesting deeper than {MAX_NESTING} levels"),
                    Some(line),
                    Some(column),
                ));
            }
            serde_yaml::from_str::<Dict>(text).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
                syntax(strip_location(&e.to_string()), line, column)
            })
        }
    }
}

/// Deepest `[`/`{` nesting accepted in a YAML file (serde_yaml's own limit is 128).
const MAX_NESTING: usize = 128;

/// Byte offset of the first `[` or `{` that opens level `limit + 1`, skipping quoted
/// strings and comments.
fn flow_depth_exceeded(text: &str, limit: usize) -> Option<usize> {
    let mut depth = 0_usize;
    let mut chars = text.char_indices().peekable();
    let mut previous = '\n';
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
            }
            '\'' if !previous.is_alphanumeric() => {
                for (_, c) in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            '#' if previous.is_whitespace() => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    None
}

/// Removes a trailing " at line X column Y" that serde_json and serde_yaml append; we report
/// the position in the source instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Finds the 1-based line where the dotted `path` is set in a TOML, YAML or JSON text.
///
/// Walks the path segments in order, each one searched after the previous one's position, and
/// accepts an occurrence only in key position: preceded (ignoring blanks and quotes) by the
/// start of a line, `[`, `.`, `{`, `,` or `- `, and followed by `=`, `:`, `.` or `]`. This finds
/// `[server]` + `addr = …`, dotted `server.addr = …`, inline tables, YAML indentation and JSON
/// objects without a span-aware parser for each format.
pub(crate) fn locate_key(text: &str, path: &[String]) -> Option<usize> {
    let mut cursor = 0;
    let mut found = None;
    for segment in path {
        if segment.is_empty() {
            return found;
        }
        let mut hit = None;
        for (i, _) in text[cursor..].match_indices(segment.as_str()) {
            let start = cursor + i;
            let end = start + segment.len();
            if key_position(text, start, end) {
                hit = Some(end);
                found = Some(line_col(text, start).0);
                break;
            }
        }
        match hit {
            Some(end) => cursor = end,
            // An array index or a key we cannot see: the deepest line found is the best answer.
            None => return found,
        }
    }
    found
}

fn key_position(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].trim_end_matches(['"', '\'']);
    let before = before.trim_end_matches([' ', '\t']);
    let ok_before = before.is_empty()
        || before.ends_with(['\n', '[', '.', '{', ','])
        || before.ends_with("- ")
        || before.ends_with('-')
            && before[..before.len() - 1]
                .trim_end_matches([' ', '\t'])
                .ends_with('\n');
    if !ok_before {
        return false;
    }
    // The next character must end the key: a quote, blank or separator, not more identifier.
    let after = &text[end..];
    let after = after.strip_prefix(['"', '\'']).unwrap_or(after);
    let after = after.trim_start_matches([' ', '\t']);
    after.starts_with(['=', ':', '.', ']'])
}

/// Environment variables with a prefix, nested on `__`, read as strings.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvLayer {
    pub(crate) dict: Dict,
    /// Dotted key → exact variable name.
    pub(crate) vars: BTreeMap<String, String>,
}

impl EnvLayer {
    /// Builds the layer from `vars`, keeping those named `<PREFIX>_<KEY>[__<KEY>…]`
    /// (prefix compared ignoring ASCII case), except the names in `skip`.
    pub(crate) fn collect(
        prefix: &str,
        skip: &[String],
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let wanted = format!("{}_", prefix.trim_end_matches('_')).to_ascii_uppercase();
        let mut sorted: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| {
                name.len() > wanted.len()
                    && name.is_char_boundary(wanted.len())
                    && name[..wanted.len()].eq_ignore_ascii_case(&wanted)
                    && !skip.iter().any(|s| s.eq_ignore_ascii_case(name))
            })
            .collect();
        // Sorted so that a conflict (`API_SERVER` and `API_SERVER__ADDR`) resolves the same
        // way on every run.
        sorted.sort();
        let mut layer = Self::default();
        for (name, value) in sorted {
            let rest = &name[wanted.len()..];
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if path.iter().any(String::is_empty) {
                tracing::debug!(var = %name, "ignoring environment variable with an empty key segment");
                continue;
            }
            insert_path(&mut layer.dict, &path, Value::from(value));
            layer.vars.insert(path.join("."), name);
        }
        layer
    }

    pub(crate) fn provider(&self) -> DictProvider {
        DictProvider {
            metadata: Metadata::from("environment variable", TAG_ENV),
            dict: self.dict.clone(),
        }
    }

    /// The variable that set `key` or the closest enclosing table.
    pub(crate) fn var_for(&self, key: &str) -> Option<&str> {
        let mut key = key;
        loop {
            if let Some(v) = self.vars.get(key) {
                return Some(v);
            }
            key = &key[..key.rfind('.')?];
        }
    }
}

/// Inserts `value` at the nested `path`, replacing non-table values on the way.
pub(crate) fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = dict;
    for segment in parents {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| Value::from(Dict::new()));
        if !matches!(entry, Value::Dict(..)) {
            *entry = Value::from(Dict::new());
        }
        let Value::Dict(_, next) = entry else {
            return;
        };
        current = next;
    }
    current.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn locates_toml_table_key() {
        let text = "# c\n[database]\naddr = 1\n\n[server]\nport = 2\naddr = \"x\"\n";
        assert_eq!(locate_key(text, &p("server.addr")), Some(7));
        assert_eq!(locate_key(text, &p("database.addr")), Some(3));
    }

    #[test]
    fn locates_toml_dotted_and_inline() {
        assert_eq!(
            locate_key("a = 1\nserver.addr = 3\n", &p("server.addr")),
            Some(2)
        );
        assert_eq!(
            locate_key(
                "a = 1\n\nserver = { port = 1, addr = 3 }\n",
                &p("server.addr")
            ),
            Some(3)
        );
    }

    #[test]
    fn locates_yaml_and_json() {
        let yaml = "database:\n  url: x\nserver:\n  # addr: no\n  addr: nope\n";
        assert_eq!(locate_key(yaml, &p("server.addr")), Some(5));
        let json = "{\n  \"server\": {\n    \"port\": 1,\n    \"addr\": 5\n  }\n}";
        assert_eq!(locate_key(json, &p("server.addr")), Some(4));
    }

    #[test]
    fn does_not_match_inside_values_or_longer_keys() {
        let text = "[server]\naddress = 1\nname = \"addr\"\naddr = 2\n";
        assert_eq!(locate_key(text, &p("server.addr")), Some(4));
    }

    #[test]
    fn yaml_flow_depth_scan() {
        assert_eq!(flow_depth_exceeded("a: [[1]]", 2), None);
        assert_eq!(flow_depth_exceeded("a: [[[1]]]", 2), Some(5));
        assert_eq!(
            flow_depth_exceeded("a: \"[[[\\\"[\" # [[[\nb: 'x[[[' ", 1),
            None
        );
        assert_eq!(flow_depth_exceeded("a: {b: {c: 1}}", 1), Some(7));
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 99), (2, 2));
    }

    #[test]
    fn env_layer_nests_and_skips() {
        let layer = EnvLayer::collect(
            "API",
            &["API_CONFIG".to_owned()],
            [
                ("API_SERVER__ADDR".to_owned(), "127.0.0.1:0".to_owned()),
                ("api_database__max_connections".to_owned(), "5".to_owned()),
                ("API_CONFIG".to_owned(), "x.toml".to_owned()),
                ("API___X".to_owned(), "1".to_owned()),
                ("OTHER_SERVER__ADDR".to_owned(), "1".to_owned()),
                ("API_".to_owned(), "1".to_owned()),
            ],
        );
        assert_eq!(layer.var_for("server.addr"), Some("API_SERVER__ADDR"));
        assert_eq!(
            layer.var_for("database.max_connections"),
            Some("api_database__max_connections")
        );
        assert!(layer.var_for("config").is_none());
        assert_eq!(layer.dict.len(), 2);
    }
}
