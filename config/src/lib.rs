//! troop-config: the `troop.toml` schema, its parser and its validation.
//!
//! The parser walks a span-carrying TOML tree instead of using serde, so that
//! *every* problem (unknown key, wrong type, bad duration, a route naming a sink
//! that does not exist...) is collected with its line and column before the
//! load fails, each with a stable code (see [`codes`]). Nothing here does IO
//! beyond reading the file itself: secrets are resolved by whoever builds the
//! component that needs them.

mod diag;
mod schema;
mod secret;
mod walk;

pub use diag::{ConfigErrors, Diagnostic, Need, Needed, codes};
pub use schema::*;
pub use secret::{Secret, SecretError};

use std::path::{Path, PathBuf};

/// The commented example printed by `troop config example`.
pub const EXAMPLE: &str = include_str!("../example.toml");

/// The default config file, looked up in the working directory.
pub const DEFAULT_FILE: &str = "troop.toml";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config file {path}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(ConfigErrors),
}

/// Parse and validate configuration text. `origin` names the source in messages.
pub fn parse(src: &str, origin: &str) -> Result<Config, ConfigErrors> {
    schema::parse(src, origin)
}

/// Load `path`; with `None`, `troop.toml` in the working directory if present,
/// otherwise the built-in defaults.
pub fn load(path: Option<&Path>) -> Result<Config, LoadError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let p = PathBuf::from(DEFAULT_FILE);
            if !p.exists() {
                return Ok(Config::default());
            }
            p
        }
    };
    let src = std::fs::read_to_string(&path).map_err(|source| LoadError::Unreadable { path: path.clone(), source })?;
    let mut cfg = parse(&src, &path.display().to_string()).map_err(LoadError::Invalid)?;
    if let Some(dir) = path.parent() {
        cfg.resolve_paths(dir);
    }
    cfg.source = Some(path);
    Ok(cfg)
}

impl Config {
    /// Make every relative path of the file relative to `base`, the config
    /// file's directory, so that a command gives the same answer whatever its
    /// working directory: the `sqlite://` store, jsonl sink paths, template and
    /// CA files, `{ file = … }` secrets, `[monkeys.certs] files` globs and
    /// `extra_ca_files`. Pure: no file is read.
    pub fn resolve_paths(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let join_str = |p: &mut String| {
            if Path::new(p.as_str()).is_relative() {
                *p = base.join(p.as_str()).display().to_string();
            }
        };
        if let Some(rest) = self.agent.store.strip_prefix("sqlite://")
            && !rest.is_empty()
            && Path::new(rest).is_relative()
            && rest != ":memory:"
        {
            self.agent.store = format!("sqlite://{}", base.join(rest).display());
        }
        self.monkeys.certs.extra_ca_files.iter_mut().for_each(join);
        for n in &mut self.needs {
            match &mut n.what {
                Needed::File(p) | Needed::Writable(p) | Needed::Template(p) => join(p),
                Needed::Store(url) => {
                    if let Some(rest) = url.strip_prefix("sqlite://")
                        && !rest.is_empty()
                        && Path::new(rest).is_relative()
                    {
                        *url = format!("sqlite://{}", base.join(rest).display());
                    }
                }
                Needed::TlsServer(tls) => {
                    join(&mut tls.cert_file);
                    join(&mut tls.key_file);
                    tls.client_ca_file.iter_mut().for_each(join);
                }
                Needed::Env(_) | Needed::Mailbox(_) => {}
            }
        }
        self.monkeys.certs.files.iter_mut().for_each(join_str);
        let secret = |s: &mut Secret| {
            if let Secret::File(p) = s
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        self.agent.store_password.iter_mut().for_each(secret);
        if let Some(tls) = &mut self.agent.http_access.tls {
            join(&mut tls.cert_file);
            join(&mut tls.key_file);
            tls.client_ca_file.iter_mut().for_each(join);
        }
        self.agent.http_access.tokens.iter_mut().for_each(|t| secret(&mut t.token));
        for sink in &mut self.alerts.sinks {
            match &mut sink.kind {
                SinkKind::Jsonl { path } => join(path),
                SinkKind::Webhook { url, secret: key } => {
                    secret(url);
                    key.iter_mut().for_each(secret);
                }
                SinkKind::Slack { url, template } => {
                    secret(url);
                    template.iter_mut().for_each(join);
                }
                SinkKind::Pagerduty { routing_key, .. } => secret(routing_key),
                SinkKind::Smtp { ca_file, password, subject_template, text_template, html_template, .. } => {
                    ca_file.iter_mut().for_each(join);
                    password.iter_mut().for_each(secret);
                    for t in [subject_template, text_template, html_template] {
                        t.iter_mut().for_each(join);
                    }
                }
                SinkKind::Stdout | SinkKind::Alertmanager { .. } | SinkKind::Command { .. } => {}
            }
        }
    }
}

/// The rules other crates own, which `check_needs` applies: whether this
/// build opens a store URL (the store crate), parses a template file and an
/// e-mail address (the alerts crate). Each says why not.
pub struct Judges<'a> {
    pub store: &'a dyn Fn(&str) -> Result<(), String>,
    pub template: &'a dyn Fn(&Path) -> Result<(), String>,
    pub mailbox: &'a dyn Fn(&str) -> Result<(), String>,
    /// Whether `[agent.http.tls_server_config]`'s files make a TLS server
    /// (the server crate).
    pub tls: &'a dyn Fn(&TlsServer) -> Result<(), String>,
}

/// Resolve what start-up resolves — every `{ env = … }` variable is set,
/// every secret, template and CA file is readable, the store URL is one
/// `store` accepts and every template parses as `template` says (the binary
/// passes the store and alerts crates' checks), a jsonl sink's directory
/// exists — and report
/// each failure at its place in the file, as parse errors are. Secret values
/// are never read into a message. `troop config check`, `scan` and `run` all
/// call this, so a file that passes the check starts.
pub fn check_needs(cfg: &Config, judges: &Judges) -> Result<(), ConfigErrors> {
    let mut diagnostics = Vec::new();
    for n in &cfg.needs {
        let problem = match &n.what {
            Needed::Env(var) => std::env::var_os(var)
                .is_none()
                .then(|| (codes::UNSET_ENV, format!("environment variable {var} is not set"))),
            Needed::File(path) => match std::fs::File::open(path) {
                Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => None,
                Ok(_) => Some((codes::UNREADABLE_FILE, format!("{} is not a file", path.display()))),
                Err(e) => Some((codes::UNREADABLE_FILE, format!("cannot read {}: {e}", path.display()))),
            },
            Needed::Store(url) => (judges.store)(url).err().map(|e| (codes::UNSUPPORTED_STORE, e)),
            Needed::Template(path) => match std::fs::read(path) {
                Err(e) => Some((codes::UNREADABLE_FILE, format!("cannot read {}: {e}", path.display()))),
                Ok(_) => (judges.template)(path).err().map(|e| (codes::INVALID_TEMPLATE, e)),
            },
            Needed::Mailbox(addr) => (judges.mailbox)(addr).err().map(|e| (codes::INVALID_VALUE, e)),
            // its files' own needs report a missing file; judge only readable ones
            Needed::TlsServer(tls) => {
                let files = [Some(&tls.cert_file), Some(&tls.key_file), tls.client_ca_file.as_ref()];
                if files.into_iter().flatten().all(|p| std::fs::File::open(p).is_ok()) {
                    (judges.tls)(tls).err().map(|e| (codes::INVALID_TLS, e))
                } else {
                    None
                }
            }
            Needed::Writable(path) => match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => Some((
                    codes::UNREADABLE_FILE,
                    format!("cannot write {}: the directory {} does not exist", path.display(), dir.display()),
                )),
                _ => None,
            },
        };
        if let Some((code, message)) = problem {
            diagnostics.push(Diagnostic { code, message, line: n.line, column: n.column, span: 0..0 });
        }
    }
    if diagnostics.is_empty() {
        return Ok(());
    }
    let origin = cfg.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(built-in defaults)".into());
    Err(ConfigErrors { origin, diagnostics })
}
