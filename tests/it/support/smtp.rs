//! A real SMTP server on loopback: aiosmtpd (PyPI, in the test venv) with its
//! Mailbox handler, which writes each message to a maildir with its envelope
//! (`X-MailFrom`, `X-RcptTo`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    child: Child,
    pub addr: String,
    dir: tempfile::TempDir,
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
        let port = super::free_port();
        let addr = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let mut child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &addr])
            .args(flags)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd with {python} ({e}): run deploy/test.sh"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return SmtpServer { child, addr, dir };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not listen on {addr}");
    }

    /// Every message delivered so far.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(files) = std::fs::read_dir(self.dir.path().join("maildir").join("new")) else { return vec![] };
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

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
