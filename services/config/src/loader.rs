//! The layered loader.

use std::fmt::{self, Write as _};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use figment::error::{Actual, Kind};
use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Source};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ConfigError, ErrorKind, humanize_expected};
use crate::secret::{REDACTED, redacting};
use crate::source::{
    ConfigSource, DictProvider, EnvLayer, FileFormat, LoadedFile, TAG_DEFAULT, TAG_ENV,
    TAG_OVERRIDE, insert_path, locate_key, parse_file,
};
use crate::validate::{Validate, ValidationErrors};

type Validator<T> = Arc<dyn Fn(&T) -> Result<(), ValidationErrors> + Send + Sync>;
type EnvSource = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;
type DefaultsSource = fn() -> Result<Dict, ConfigError>;

/// The words that mark a key as sensitive by default (see [`ConfigLoader::sensitive_keys`]).
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "apikey",
    "credential",
    "credentials",
    "private",
];

#[derive(Debug, Clone)]
struct FileSpec {
    path: PathBuf,
    required: bool,
    named_by: Option<String>,
}

/// Builds a typed configuration value from layers, lowest precedence first:
///
/// 1. built-in defaults, `T::default()`;
/// 2. files, in the order added (TOML, YAML or JSON by extension), then the file named by
///    the [`file_from_env`](ConfigLoader::file_from_env) variable;
/// 3. environment variables `<PREFIX>_<SECTION>__<KEY>` (see [`env_prefix`](ConfigLoader::env_prefix));
/// 4. explicit overrides, [`set`](ConfigLoader::set).
///
/// Then the validation hooks run. Each failure is a [`ConfigError`] naming the key, the
/// source and what was expected.
///
/// ```
/// use std::net::SocketAddr;
/// use serde::{Deserialize, Serialize};
/// use core_backend_config::ConfigLoader;
///
/// #[derive(Debug, Deserialize, Serialize)]
/// struct Server { addr: SocketAddr }
/// impl Default for Server {
///     fn default() -> Self { Self { addr: "0.0.0.0:8080".parse().unwrap() } }
/// }
/// #[derive(Debug, Default, Deserialize, Serialize)]
/// struct ApiConfig { server: Server }
///
/// let config: ApiConfig = ConfigLoader::new()
///     .env_prefix("API")
///     .env_vars([("API_SERVER__ADDR", "127.0.0.1:0")]) // the process environment if omitted
///     .load()?;
/// assert_eq!(config.server.addr.to_string(), "127.0.0.1:0");
/// # Ok::<(), core_backend_config::ConfigError>(())
/// ```
pub struct ConfigLoader<T> {
    defaults: Option<DefaultsSource>,
    env_prefix: Option<String>,
    files: Vec<FileSpec>,
    file_env: Vec<String>,
    overrides: Dict,
    override_errors: Vec<ConfigError>,
    env_source: Option<EnvSource>,
    validators: Vec<Validator<T>>,
    sensitive: Arc<[String]>,
    pub(crate) poll_interval: Duration,
    _target: PhantomData<fn() -> T>,
}

impl<T> Clone for ConfigLoader<T> {
    fn clone(&self) -> Self {
        Self {
            defaults: self.defaults,
            env_prefix: self.env_prefix.clone(),
            files: self.files.clone(),
            file_env: self.file_env.clone(),
            overrides: self.overrides.clone(),
            override_errors: self.override_errors.clone(),
            env_source: self.env_source.clone(),
            validators: self.validators.clone(),
            sensitive: self.sensitive.clone(),
            poll_interval: self.poll_interval,
            _target: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ConfigLoader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigLoader")
            .field("env_prefix", &self.env_prefix)
            .field("files", &self.files)
            .field("file_env", &self.file_env)
            .field("overrides", &self.overrides.keys().collect::<Vec<_>>())
            .field("validators", &self.validators.len())
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

impl<T: Default + Serialize> Default for ConfigLoader<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything one load produced: the merged figment and what it was built from.
pub(crate) struct Snapshot {
    pub(crate) figment: Figment,
    pub(crate) files: Vec<LoadedFile>,
    pub(crate) env: EnvLayer,
}

impl<T: Default + Serialize> ConfigLoader<T> {
    /// A loader with only the built-in defaults layer, `T::default()`. Add layers with the
    /// builder methods.
    pub fn new() -> Self {
        let mut loader = Self::without_defaults();
        loader.defaults = Some(serialize_defaults::<T>);
        loader
    }
}

fn serialize_defaults<T: Default + Serialize>() -> Result<Dict, ConfigError> {
    match Value::serialize(T::default()) {
        Ok(Value::Dict(_, dict)) => Ok(dict),
        Ok(_) => Err(ConfigError::new(ErrorKind::Other)
            .with_source(ConfigSource::Default)
            .with_message("the configuration type must serialize to a table (a struct or a map)")),
        Err(e) => Err(ConfigError::new(ErrorKind::Other)
            .with_source(ConfigSource::Default)
            .with_message(format!("cannot serialize the defaults: {e}"))),
    }
}

impl<T> ConfigLoader<T> {
    /// A loader without a defaults layer, for types that are not `Serialize` (or have no
    /// `Default`): missing keys then fall back to serde's own defaults
    /// (`#[serde(default)]`) or are reported as missing. Sources of such values show as
    /// [`ConfigSource::Default`].
    pub fn without_defaults() -> Self {
        Self {
            defaults: None,
            env_prefix: None,
            files: Vec::new(),
            file_env: Vec::new(),
            overrides: Dict::new(),
            override_errors: Vec::new(),
            env_source: None,
            validators: Vec::new(),
            sensitive: DEFAULT_SENSITIVE_KEYS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            poll_interval: Duration::from_secs(2),
            _target: PhantomData,
        }
    }

    /// Reads environment variables named `<PREFIX>_<SECTION>__<KEY>`: `API_SERVER__ADDR`
    /// sets `server.addr`, `API_DATABASE__MAX_CONNECTIONS` sets `database.max_connections`.
    ///
    /// The prefix is matched ignoring ASCII case, keys are lower-cased, `__` separates levels
    /// and a single `_` stays part of the key. Values are strings that become numbers or
    /// booleans where the target field asks for one. Variables named by
    /// [`file_from_env`](Self::file_from_env) are not read as keys.
    ///
    /// Defaults to no environment layer.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// Reads variables from `vars` instead of the process environment (for tests, or to
    /// feed a loader from somewhere else). Only used with [`env_prefix`](Self::env_prefix)
    /// and [`file_from_env`](Self::file_from_env).
    ///
    /// Defaults to the process environment, read at every load.
    pub fn env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.env_source = Some(Arc::new(move || vars.clone()));
        self
    }

    /// Adds an optional file layer: read if it exists, skipped if it does not. The format
    /// comes from the extension (`.toml`, `.yaml`/`.yml`, `.json`). Later files win.
    ///
    /// Defaults to no files.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(FileSpec {
            path: path.into(),
            required: false,
            named_by: None,
        });
        self
    }

    /// Adds a file layer that must exist: loading fails with [`ErrorKind::FileNotFound`]
    /// otherwise.
    ///
    /// Defaults to no files.
    pub fn required_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(FileSpec {
            path: path.into(),
            required: true,
            named_by: None,
        });
        self
    }

    /// Adds a file layer whose path is the value of the environment variable `var`
    /// (`API_CONFIG=/etc/api.toml`), above the files added with [`file`](Self::file). When
    /// the variable is unset or empty there is no such layer; when it names a file that does
    /// not exist, loading fails, because someone asked for that file explicitly.
    ///
    /// Defaults to none.
    pub fn file_from_env(mut self, var: impl Into<String>) -> Self {
        self.file_env.push(var.into());
        self
    }

    /// Sets `key` (dotted, `server.addr`) to `value` above every other layer.
    ///
    /// A value that cannot be serialized is reported by the next load.
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        match Value::serialize(value) {
            Ok(value) if !path.iter().any(String::is_empty) => {
                insert_path(&mut self.overrides, &path, value);
            }
            Ok(_) => self.override_errors.push(
                ConfigError::new(ErrorKind::Other)
                    .with_key(key)
                    .with_source(ConfigSource::Override)
                    .with_message("an override key must not have empty segments"),
            ),
            Err(e) => self.override_errors.push(
                ConfigError::new(ErrorKind::InvalidValue)
                    .with_key(key)
                    .with_source(ConfigSource::Override)
                    .with_message(e.to_string()),
            ),
        }
        self
    }

    /// Adds a validation hook, run on the loaded value after deserialization succeeded. It
    /// reports problems keyed by field; each becomes a [`ConfigError`] of kind
    /// [`ErrorKind::Validation`] that names where the offending value was set.
    ///
    /// Defaults to no hooks.
    pub fn validate<F>(mut self, hook: F) -> Self
    where
        F: Fn(&T) -> Result<(), ValidationErrors> + Send + Sync + 'static,
    {
        self.validators.push(Arc::new(hook));
        self
    }

    /// Runs `T`'s own [`Validate`] impl after loading.
    pub fn validated(self) -> Self
    where
        T: Validate,
    {
        self.validate(|value: &T| value.validate())
    }

    /// Key words that mark a value as sensitive in dumps, explanations and error messages:
    /// a key is sensitive when its last segment, split on `_` and `-`, contains one of these
    /// words (compared ignoring case), or equals one. [`Secret`](crate::Secret) fields are
    /// always redacted, whatever their name.
    ///
    /// Defaults to [`DEFAULT_SENSITIVE_KEYS`].
    pub fn sensitive_keys<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sensitive = words
            .into_iter()
            .map(|w| w.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// How often [`watch`](Self::watch) looks at the files for changes.
    ///
    /// Defaults to 2 seconds.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Whether `key` is sensitive by the [`sensitive_keys`](Self::sensitive_keys) rule.
    pub fn is_sensitive(&self, key: &str) -> bool {
        let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
        self.sensitive
            .iter()
            .any(|word| last == *word || last.split(['_', '-']).any(|part| part == word))
    }

    fn env_snapshot(&self) -> Vec<(String, String)> {
        match &self.env_source {
            Some(source) => source(),
            None => std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// The files this load would read, in precedence order.
    fn file_specs(&self, env: &[(String, String)]) -> Vec<FileSpec> {
        let mut specs = self.files.clone();
        for var in &self.file_env {
            let value = env.iter().find(|(k, _)| k == var).map(|(_, v)| v.trim());
            if let Some(path) = value.filter(|v| !v.is_empty()) {
                specs.push(FileSpec {
                    path: PathBuf::from(path),
                    required: true,
                    named_by: Some(var.clone()),
                });
            }
        }
        specs
    }

    /// Paths of every file layer for the current environment (existing or not).
    pub(crate) fn watched_paths(&self) -> Vec<PathBuf> {
        self.file_specs(&self.env_snapshot())
            .into_iter()
            .map(|s| s.path)
            .collect()
    }

    fn read_file(spec: &FileSpec) -> Result<Option<LoadedFile>, ConfigError> {
        let source = ConfigSource::File {
            path: spec.path.clone(),
            line: None,
            column: None,
        };
        let text = match read_limited(&spec.path) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(ConfigError::new(ErrorKind::File)
                    .with_source(source)
                    .with_message(format!("larger than {} MiB", MAX_FILE_BYTES >> 20)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !spec.required {
                    return Ok(None);
                }
                let mut err = ConfigError::new(ErrorKind::FileNotFound).with_source(source);
                if let Some(var) = &spec.named_by {
                    err = err.with_message(format!("named by {var}"));
                }
                return Err(err);
            }
            Err(e) => {
                return Err(ConfigError::new(ErrorKind::File)
                    .with_source(source)
                    .with_message(e.to_string()));
            }
        };
        let Some(format) = FileFormat::from_path(&spec.path) else {
            return Err(ConfigError::new(ErrorKind::File)
                .with_source(source)
                .with_message("unknown file extension")
                .with_expected("a .toml, .yaml, .yml or .json file"));
        };
        let dict = parse_file(&spec.path, format, &text)?;
        Ok(Some(LoadedFile {
            path: spec.path.clone(),
            format,
            text,
            dict,
        }))
    }
}

impl<T> ConfigLoader<T>
where
    T: DeserializeOwned,
{
    /// Loads, merges, deserializes and validates.
    pub fn load(&self) -> Result<T, ConfigError> {
        self.load_snapshot().map(|(value, _)| value)
    }

    pub(crate) fn load_snapshot(&self) -> Result<(T, Snapshot), ConfigError> {
        let snapshot = self.snapshot()?;
        let value: T = snapshot
            .figment
            .extract_lossy()
            .map_err(|e| self.map_figment_error(&snapshot, e))?;
        let mut problems = ValidationErrors::new();
        for hook in &self.validators {
            if let Err(errors) = hook(&value) {
                problems.extend(errors);
            }
        }
        if let Some(err) = self.validation_error(&snapshot, problems) {
            return Err(err);
        }
        Ok((value, snapshot))
    }

    fn snapshot(&self) -> Result<Snapshot, ConfigError> {
        if let Some(first) = self.override_errors.first() {
            let mut err = first.clone();
            err.related
                .extend(self.override_errors.iter().skip(1).cloned());
            return Err(err);
        }
        let env_vars = self.env_snapshot();
        let defaults = match &self.defaults {
            Some(defaults) => defaults()?,
            None => Dict::new(),
        };
        let mut figment = Figment::new().merge(DictProvider {
            metadata: Metadata::from("built-in defaults", TAG_DEFAULT),
            dict: defaults,
        });
        let mut files = Vec::new();
        for spec in self.file_specs(&env_vars) {
            if let Some(file) = Self::read_file(&spec)? {
                figment = figment.merge(file.provider());
                files.push(file);
            }
        }
        let env = match &self.env_prefix {
            Some(prefix) => EnvLayer::collect(prefix, &self.file_env, env_vars),
            None => EnvLayer::default(),
        };
        figment = figment.merge(env.provider()).merge(DictProvider {
            metadata: Metadata::from("override", TAG_OVERRIDE),
            dict: self.overrides.clone(),
        });
        Ok(Snapshot {
            figment,
            files,
            env,
        })
    }

    /// Renders the effective configuration, `value`, as TOML or JSON, with every
    /// [`Secret`](crate::Secret) and every [sensitive key](Self::sensitive_keys) shown as
    /// `"[REDACTED]"`. Unset optional values are left out of TOML (which has no null).
    pub fn dump(&self, value: &T, format: DumpFormat) -> Result<String, ConfigError>
    where
        T: Serialize,
    {
        let json = redacting(|| serde_json::to_value(value)).map_err(|e| {
            ConfigError::new(ErrorKind::Other).with_message(format!("cannot serialize: {e}"))
        })?;
        let json = self.redact_json(String::new(), json);
        let text = match format {
            DumpFormat::Json => serde_json::to_string_pretty(&json).map_err(|e| e.to_string()),
            DumpFormat::Toml => toml::to_string(&strip_nulls(json)).map_err(|e| e.to_string()),
        };
        text.map_err(|e| {
            ConfigError::new(ErrorKind::Other).with_message(format!("cannot render: {e}"))
        })
    }

    /// Loads and lists every effective leaf value (redacted as in [`dump`](Self::dump)) with
    /// the layer it came from. `Display` renders it as TOML-like lines with the source as a
    /// comment, for a start-up log or a `--print-config` flag.
    pub fn explain(&self) -> Result<Explanation, ConfigError>
    where
        T: Serialize,
    {
        let (value, snapshot) = self.load_snapshot()?;
        let json = redacting(|| serde_json::to_value(&value)).map_err(|e| {
            ConfigError::new(ErrorKind::Other).with_message(format!("cannot serialize: {e}"))
        })?;
        let json = self.redact_json(String::new(), json);
        let mut entries = Vec::new();
        flatten(String::new(), &json, &mut |key, rendered| {
            let source = Self::source_of(&snapshot, &key).unwrap_or(ConfigSource::Default);
            entries.push(ExplainedValue {
                key,
                value: rendered,
                source,
            });
        });
        Ok(Explanation { entries })
    }

    fn redact_json(&self, key: String, value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let path = if key.is_empty() {
                            k.clone()
                        } else {
                            format!("{key}.{k}")
                        };
                        let v = if self.is_sensitive(&path) && !v.is_null() && !v.is_object() {
                            serde_json::Value::String(REDACTED.to_owned())
                        } else {
                            self.redact_json(path, v)
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// Where the value at dotted `key` came from.
    fn source_of(snapshot: &Snapshot, key: &str) -> Option<ConfigSource> {
        let metadata = snapshot.figment.find_metadata(key)?;
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        Some(source_from_metadata(snapshot, metadata, &path))
    }

    fn found_at(&self, snapshot: &Snapshot, key: &str) -> Option<String> {
        let value = snapshot.figment.find_value(key).ok()?;
        Some(if self.is_sensitive(key) {
            format!("\"{REDACTED}\"")
        } else {
            render_value(&value)
        })
    }

    fn map_figment_error(&self, snapshot: &Snapshot, error: figment::Error) -> ConfigError {
        let mut all = error.into_iter().map(|e| self.map_one(snapshot, e));
        let mut first = all
            .next()
            .unwrap_or_else(|| ConfigError::new(ErrorKind::Other).with_message("unknown error"));
        first.related.extend(all);
        first
    }

    fn map_one(&self, snapshot: &Snapshot, e: figment::Error) -> ConfigError {
        let mut path = e.path.clone();
        let source = |path: &[String]| {
            e.metadata
                .as_ref()
                .map(|md| source_from_metadata(snapshot, md, path))
        };
        let redact = |path: &[String], actual: &Actual| {
            if self.is_sensitive(&path.join(".")) {
                format!("\"{REDACTED}\"")
            } else {
                render_actual(actual)
            }
        };
        let err = match &e.kind {
            Kind::MissingField(name) => {
                path.push(name.to_string());
                let key = path.join(".");
                let mut hint = String::from("set it in a config file");
                if let Some(prefix) = &self.env_prefix {
                    let _ = write!(
                        hint,
                        ", with env var {}_{}",
                        prefix.trim_end_matches('_').to_ascii_uppercase(),
                        path.join("__").to_ascii_uppercase()
                    );
                }
                hint.push_str(" or with an override");
                return ConfigError::new(ErrorKind::MissingKey)
                    .with_key(key)
                    .with_message(hint);
            }
            Kind::UnknownField(name, expected) => {
                // figment already appends the unknown field to the path; be robust either way.
                if path.last() != Some(name) {
                    path.push(name.clone());
                }
                let mut err = ConfigError::new(ErrorKind::UnknownKey).with_key(path.join("."));
                if !expected.is_empty() {
                    err = err.with_expected(one_of(expected));
                }
                err
            }
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                ConfigError::new(ErrorKind::InvalidValue)
                    .with_key(path.join("."))
                    .with_expected(humanize_expected(expected))
                    .with_found(redact(&path, actual))
            }
            Kind::InvalidLength(len, expected) => ConfigError::new(ErrorKind::InvalidValue)
                .with_key(path.join("."))
                .with_expected(humanize_expected(expected))
                .with_found(format!("{len} elements")),
            Kind::UnknownVariant(variant, expected) => ConfigError::new(ErrorKind::InvalidValue)
                .with_key(path.join("."))
                .with_expected(one_of(expected))
                .with_found(if self.is_sensitive(&path.join(".")) {
                    format!("\"{REDACTED}\"")
                } else {
                    format!("{variant:?}")
                }),
            Kind::Message(message) => {
                let key = path.join(".");
                let humane = humanize_expected(message);
                let mut err = ConfigError::new(if path.is_empty() {
                    ErrorKind::Other
                } else {
                    ErrorKind::InvalidValue
                });
                if humane == *message {
                    err = err.with_message(message.clone());
                } else {
                    err = err.with_expected(humane);
                }
                if !path.is_empty() {
                    if let Some(found) = self.found_at(snapshot, &key) {
                        err = err.with_found(found);
                    }
                    err = err.with_key(key);
                }
                err
            }
            other => {
                let mut err = ConfigError::new(ErrorKind::Other).with_message(other.to_string());
                if !path.is_empty() {
                    err = err.with_key(path.join("."));
                }
                err
            }
        };
        match source(&path) {
            Some(source) => err.with_source(source),
            None => err,
        }
    }

    fn validation_error(
        &self,
        snapshot: &Snapshot,
        problems: ValidationErrors,
    ) -> Option<ConfigError> {
        let mut errors = problems.into_iter().map(|(key, message)| {
            let mut err = ConfigError::new(ErrorKind::Validation).with_expected(message);
            if let Some(source) = Self::source_of(snapshot, &key) {
                err = err.with_source(source);
            }
            if let Some(found) = self.found_at(snapshot, &key) {
                err = err.with_found(found);
            }
            err.with_key(key)
        });
        let mut first = errors.next()?;
        first.related.extend(errors);
        Some(first)
    }
}

/// Largest config file read; anything bigger is a mistake (or `/dev/zero`).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads at most [`MAX_FILE_BYTES`]; `Ok(None)` if the file is larger.
fn read_limited(path: &std::path::Path) -> std::io::Result<Option<String>> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    Ok((text.len() as u64 <= MAX_FILE_BYTES).then_some(text))
}

fn source_from_metadata(snapshot: &Snapshot, metadata: &Metadata, path: &[String]) -> ConfigSource {
    match &metadata.source {
        Some(Source::File(file)) => {
            let line = snapshot
                .files
                .iter()
                .rev()
                .find(|f| f.path == *file)
                .and_then(|f| locate_key(&f.text, path));
            ConfigSource::File {
                path: file.clone(),
                line,
                column: None,
            }
        }
        Some(Source::Custom(tag)) if tag == TAG_ENV => {
            let key = path.join(".");
            match snapshot.env.var_for(&key) {
                Some(var) => ConfigSource::Env {
                    var: var.to_owned(),
                },
                None => ConfigSource::Env {
                    var: key.replace('.', "__").to_ascii_uppercase(),
                },
            }
        }
        Some(Source::Custom(tag)) if tag == TAG_OVERRIDE => ConfigSource::Override,
        _ => ConfigSource::Default,
    }
}

fn one_of(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("one of {}", names.join(", "))
}

fn render_actual(actual: &Actual) -> String {
    match actual {
        Actual::Str(s) => format!("{s:?}"),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Bool(b) => b.to_string(),
        Actual::Char(c) => format!("{c:?}"),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a table".to_owned(),
        Actual::Unit | Actual::Option => "nothing".to_owned(),
        other => other.to_string(),
    }
}

fn render_value(value: &Value) -> String {
    match value {
        Value::String(_, s) => format!("{s:?}"),
        Value::Char(_, c) => format!("{c:?}"),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => render_actual(&n.to_actual()),
        Value::Empty(..) => "nothing".to_owned(),
        Value::Dict(..) => "a table".to_owned(),
        Value::Array(..) => "a list".to_owned(),
    }
}

fn strip_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .into_iter()
                .filter(|v| !v.is_null())
                .map(strip_nulls)
                .collect(),
        ),
        other => other,
    }
}

fn flatten(key: String, value: &serde_json::Value, out: &mut impl FnMut(String, String)) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                flatten(path, v, out);
            }
        }
        other => out(key, other.to_string()),
    }
}

/// Output syntax of [`ConfigLoader::dump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DumpFormat {
    /// TOML, the format a config file would be written in.
    Toml,
    /// Pretty-printed JSON.
    Json,
}

/// The effective configuration, one leaf value per entry, with its source.
///
/// Built by [`ConfigLoader::explain`]; values are redacted like [`ConfigLoader::dump`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Entries in key order.
    pub entries: Vec<ExplainedValue>,
}

impl Explanation {
    /// The entry for dotted `key`.
    pub fn get(&self, key: &str) -> Option<&ExplainedValue> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// One effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExplainedValue {
    /// Dotted key.
    pub key: String,
    /// The value rendered as JSON (`"127.0.0.1:0"`, `5`, `"[REDACTED]"`).
    pub value: String,
    /// The layer that set it.
    pub source: ConfigSource,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            writeln!(f, "{} = {}  # {}", entry.key, entry.value, entry.source)?;
        }
        Ok(())
    }
}
