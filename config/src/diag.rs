use std::fmt;
use std::ops::Range;

/// Stable diagnostic codes. Scripts may match on them; never rename one.
pub mod codes {
    pub const SYNTAX: &str = "syntax";
    pub const UNKNOWN_KEY: &str = "unknown-key";
    pub const WRONG_TYPE: &str = "wrong-type";
    pub const MISSING_KEY: &str = "missing-key";
    pub const INVALID_DURATION: &str = "invalid-duration";
    pub const INVALID_VALUE: &str = "invalid-value";
    pub const INVALID_URL: &str = "invalid-url";
    pub const INVALID_THRESHOLD: &str = "invalid-threshold";
    pub const DUPLICATE_NAME: &str = "duplicate-name";
    pub const UNKNOWN_SINK: &str = "unknown-sink";
    /// `{ env = "VAR" }` names a variable that is not set.
    pub const UNSET_ENV: &str = "unset-env";
    /// A secret, template or CA file that cannot be read.
    pub const UNREADABLE_FILE: &str = "unreadable-file";
    /// A store URL this build cannot open.
    pub const UNSUPPORTED_STORE: &str = "unsupported-store";
    /// A message template file that does not parse.
    pub const INVALID_TEMPLATE: &str = "invalid-template";
    /// A password sent in clear (SMTP `security = "none"` to a host that is
    /// not loopback): a warning for `config check`, refused at start.
    pub const PLAINTEXT_AUTH: &str = "plaintext-auth";
    /// A `listen` reachable from the network with no credential configured.
    pub const UNAUTHENTICATED_LISTEN: &str = "unauthenticated-listen";
    /// A `tls_server_config` whose files do not make a TLS server
    /// (not PEM, key not matching the certificate).
    pub const INVALID_TLS: &str = "invalid-tls";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub message: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub span: Range<usize>,
}

/// Every problem found in one config source, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub origin: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: error[{}]: {}", self.origin, d.line, d.column, d.code, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char_boundary(src, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Something start-up reads outside the file, and where the file asks for
/// it: what `troop config check` resolves so that it passes exactly what
/// `scan` and `run` accept.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub what: Needed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Needed {
    /// An environment variable (`{ env = "VAR" }` secrets).
    Env(String),
    /// A readable file (`{ file = … }` secrets, templates, CA files).
    File(std::path::PathBuf),
    /// The `[agent] store` URL, judged by the store crate.
    Store(String),
    /// A file troop will create or append to (a jsonl sink): its directory
    /// must exist.
    Writable(std::path::PathBuf),
    /// A message template file: readable, and parsed by the alerts crate.
    Template(std::path::PathBuf),
    /// An e-mail address (`a@b`, `Name <a@b>`), parsed by the alerts crate.
    Mailbox(String),
    /// `[agent.http.tls_server_config]`: its files make a TLS server, as the
    /// server crate judges.
    TlsServer(crate::TlsServer),
}

/// Collects diagnostics (and what start-up will need) while walking one source.
pub(crate) struct Sink<'s> {
    pub src: &'s str,
    pub diags: Vec<Diagnostic>,
    pub needs: Vec<Need>,
    pub warnings: Vec<Diagnostic>,
}

impl<'s> Sink<'s> {
    pub fn new(src: &'s str) -> Self {
        Sink { src, diags: Vec::new(), needs: Vec::new(), warnings: Vec::new() }
    }

    /// A setting that works but is unsafe (see `Config::warnings`).
    pub fn warn(&mut self, code: &'static str, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.src, span.start);
        self.warnings.push(Diagnostic { code, message: message.into(), line, column, span });
    }

    pub fn need(&mut self, span: Range<usize>, what: Needed) {
        let (line, column) = line_col(self.src, span.start);
        self.needs.push(Need { line, column, what });
    }

    pub fn error(&mut self, code: &'static str, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_col(self.src, span.start);
        self.diags.push(Diagnostic { code, message: message.into(), line, column, span });
    }

    pub fn finish(mut self, origin: &str) -> Result<(), ConfigErrors> {
        if self.diags.is_empty() {
            return Ok(());
        }
        self.diags.sort_by_key(|d| (d.span.start, d.code));
        Err(ConfigErrors { origin: origin.to_string(), diagnostics: self.diags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_table() {
        let src = "a = 1\nbé = 2\n\nc";
        let cases = [(0, (1, 1)), (4, (1, 5)), (6, (2, 1)), (9, (2, 3)), (14, (3, 1)), (15, (4, 1)), (99, (4, 2))];
        for (off, want) in cases {
            assert_eq!(line_col(src, off), want, "offset {off}");
        }
    }
}
