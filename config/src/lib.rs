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

pub use diag::{ConfigErrors, Diagnostic, codes};
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
    cfg.source = Some(path);
    Ok(cfg)
}
