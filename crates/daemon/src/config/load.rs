//! Loading: the strict TOML pass, the figment layering of defaults, file and environment, and
//! the semantic pass (validate, keys, compile), every error located as
//! `FILE:LINE:COL: KEY: message` or `VAR: KEY: message`.

use super::{
    compile, keys, validate, Config, Loaded, Purpose, CONFIG_ENV, DEFAULT_CONFIG_PATH, ENV_PREFIX,
};
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use std::fmt;
use std::path::{Path, PathBuf};

/// One configuration error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `FILE:LINE:COL`, `FILE`, or the environment variable's name.
    pub location: String,
    /// Dotted key, e.g. `pagerduty.timeout`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.key, self.message)
        }
    }
}

/// Every error found (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Which file to read: `-c`, else `$CENTREON_PAGERDUTY_CONFIG`, else the packaged path.
pub fn config_path(cli: Option<&Path>) -> PathBuf {
    cli.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

/// Load from a file (`None`: defaults only) and the given environment.
pub fn load(
    path: Option<&Path>,
    env: &[(String, String)],
    purpose: Purpose,
) -> Result<Loaded, ConfigErrors> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                location: p.display().to_string(),
                key: String::new(),
                message: format!("cannot read the configuration: {e}"),
            }])
        })?,
        None => String::new(),
    };
    load_str(path, &text, env, purpose)
}

/// Load from a file's text (`path` only names it in errors).
pub fn load_str(
    path: Option<&Path>,
    text: &str,
    env: &[(String, String)],
    purpose: Purpose,
) -> Result<Loaded, ConfigErrors> {
    let file_name = path.map_or_else(|| "(defaults)".to_owned(), |p| p.display().to_string());
    strict(text, &file_name)?;
    let overrides: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k[ENV_PREFIX.len()..].contains("__"))
        .collect();
    let config = layered(text, &overrides)?;

    // Pass 3: everything else, all at once.
    let locator = Locator {
        doc: toml_edit::ImDocument::parse(text.to_owned()).ok(),
        text,
        file_name: &file_name,
        overrides: &overrides,
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut err = |key_path: &[&str], message: String| {
        errors.push(ConfigError {
            location: locator.locate(key_path),
            key: display_key(key_path),
            message,
        })
    };
    validate::validate(&config, purpose, &mut err, &mut warnings);
    let keys = keys::read_keys(&config, purpose, &mut err, &mut warnings);
    let settings = compile::compile(&config, &keys, &mut err);
    let sync = super::sync::read(&config, purpose, &mut err, &mut warnings);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Loaded {
        config,
        path: path.map(Path::to_path_buf),
        keys,
        warnings,
        settings,
        sync,
    })
}

/// Pass 1: the file alone, strictly, for the first syntax or type error with its position.
fn strict(text: &str, file_name: &str) -> Result<(), ConfigErrors> {
    let de = toml::Deserializer::new(text);
    let Err(e) = serde_path_to_error::deserialize::<_, Config>(de) else {
        return Ok(());
    };
    let inner = e.inner();
    let location = match inner.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{file_name}:{line}:{col}")
        }
        None => file_name.to_owned(),
    };
    Err(ConfigErrors(vec![ConfigError {
        location,
        key: clean_path(&e.path().to_string()),
        message: first_line(inner.message()),
    }]))
}

/// Pass 2: defaults < file < environment (`CENTREON_PAGERDUTY_<SECTION>__<KEY>`).
fn layered(text: &str, overrides: &[&(String, String)]) -> Result<Config, ConfigErrors> {
    let mut figment =
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text));
    for (var, value) in overrides {
        let key = var[ENV_PREFIX.len()..].to_lowercase().replace("__", ".");
        let value: figment::value::Value = value
            .parse()
            .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
        figment = figment.merge(Serialized::defaults(figment::util::nest(&key, value)));
    }
    figment.extract().map_err(|e| {
        ConfigErrors(
            e.into_iter()
                .map(|e| ConfigError {
                    location: format!("{ENV_PREFIX}{}", e.path.join("__").to_uppercase()),
                    key: e.path.join("."),
                    message: first_line(&e.kind.to_string()),
                })
                .collect(),
        )
    })
}

/// Where a key's value came from: the environment variable that set it, else its position
/// in the file.
struct Locator<'a> {
    doc: Option<toml_edit::ImDocument<String>>,
    text: &'a str,
    file_name: &'a str,
    overrides: &'a [&'a (String, String)],
}

impl Locator<'_> {
    fn locate(&self, key_path: &[&str]) -> String {
        let var = format!(
            "{ENV_PREFIX}{}",
            key_path
                .iter()
                .filter(|s| s.parse::<usize>().is_err())
                .cloned()
                .collect::<Vec<_>>()
                .join("__")
                .to_uppercase()
        );
        if self.overrides.iter().any(|(k, _)| *k == var) {
            return var;
        }
        match self.doc.as_ref().and_then(|d| span_of(d, key_path)) {
            Some(offset) => {
                let (line, col) = line_col(self.text, offset);
                format!("{}:{line}:{col}", self.file_name)
            }
            None => self.file_name.to_owned(),
        }
    }
}

pub(super) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_owned()
}

/// serde_path_to_error writes `route[0].name`; a top-level error has the path `.`.
fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

pub(super) fn display_key(path: &[&str]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Byte offset of a key's value in the document, if the file sets it.
fn span_of(doc: &toml_edit::ImDocument<String>, path: &[&str]) -> Option<usize> {
    use toml_edit::{Item, Value};
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut i = 0;
    loop {
        let item = table.get(path.get(i)?)?;
        i += 1;
        let Some(next) = path.get(i) else {
            return item.span().map(|s| s.start);
        };
        match next.parse::<usize>() {
            Ok(index) => {
                i += 1;
                match item {
                    Item::ArrayOfTables(a) => {
                        let t = a.get(index)?;
                        if i == path.len() {
                            return t.span().map(|s| s.start);
                        }
                        table = t;
                    }
                    Item::Value(Value::Array(a)) => return a.get(index)?.span().map(|s| s.start),
                    _ => return None,
                }
            }
            Err(_) => table = item.as_table_like()?,
        }
    }
}

/// Reports one error: the key's path (`["route", "0", "hosts"]`) and the message.
pub(super) type ErrFn<'a> = dyn FnMut(&[&str], String) + 'a;
