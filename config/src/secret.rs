use std::fmt;
use std::path::PathBuf;

/// A value that must never be printed: a literal, or a pointer to where it lives.
/// `Debug` shows only where it comes from, never the value.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Literal(String),
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Literal(_) => f.write_str("Secret(<redacted>)"),
            Secret::Env(v) => write!(f, "Secret(env:{v})"),
            Secret::File(p) => write!(f, "Secret(file:{})", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
}

impl Secret {
    /// Read the secret's value (environment or file); trailing newlines of a
    /// file are trimmed.
    pub fn resolve(&self) -> Result<String, SecretError> {
        match self {
            Secret::Literal(v) => Ok(v.clone()),
            Secret::Env(name) => std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone())),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|source| SecretError::File { path: path.clone(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::Literal("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:#?}", vec![s]).contains("hunter2"));
    }

    #[test]
    fn resolves_from_file_and_env() {
        let dir = std::env::temp_dir().join(format!("troop-secret-{}", std::process::id()));
        std::fs::write(&dir, "tok\n").unwrap();
        assert_eq!(Secret::File(dir.clone()).resolve().unwrap(), "tok");
        std::fs::remove_file(&dir).unwrap();
        assert!(Secret::File(dir).resolve().is_err());
        assert!(matches!(Secret::Env("TROOP_SURELY_UNSET_VAR".into()).resolve(), Err(SecretError::MissingEnv(_))));
    }
}
