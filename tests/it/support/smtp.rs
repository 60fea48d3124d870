//! A real SMTP server on loopback: aiosmtpd (PyPI, in the test venv) with its
//! Mailbox handler, which writes each message to a maildir with its envelope
//! (`X-MailFrom`, `X-RcptTo`).

use std::process::Command;

pub struct SmtpServer {
    server: super::Server,
    pub addr: String,
}

/// One message as the server printed it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Envelope recipients (RCPT TO).
    pub rcpt_to: Vec<String>,
    pub text: String,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(&[])
    }

    /// With extra aiosmtpd flags, e.g. `--tlscert`/`--tlskey` (STARTTLS) or
    /// `--smtpscert`/`--smtpskey` (implicit TLS).
    pub fn start_with(flags: &[&str]) -> SmtpServer {
        // deploy/test.sh exports TROOP_PYTHON (the venv beside the emulator)
        let python = std::env::var("TROOP_PYTHON")
            .ok()
            .or_else(|| {
                let moto = std::path::PathBuf::from(std::env::var("TROOP_MOTO_SERVER").ok()?);
                Some(moto.with_file_name("python").to_string_lossy().to_string())
            })
            .unwrap_or_else(|| "python3".into());
        let server = super::Server::spawn(
            "aiosmtpd",
            |addr, dir| {
                let mut c = Command::new(&python);
                c.args(["-m", "aiosmtpd", "-n", "-l", addr]).args(flags);
                c.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(dir.join("maildir"));
                c
            },
            |addr| std::net::TcpStream::connect(addr).is_ok(),
        );
        SmtpServer { addr: server.addr.clone(), server }
    }

    /// Every message delivered so far.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(files) = std::fs::read_dir(self.server.dir.path().join("maildir").join("new")) else { return vec![] };
        let mut out: Vec<Mail> = files
            .filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok())
            .map(|text| {
                let rcpt_to = text
                    .lines()
                    .find_map(|l| l.strip_prefix("X-RcptTo: "))
                    .map(|r| r.split(',').map(|s| s.trim().to_string()).collect())
                    .unwrap_or_default();
                Mail { rcpt_to, text }
            })
            .collect();
        out.sort_by(|a, b| a.text.cmp(&b.text));
        out
    }
}
