//! `type = "smtp"` (lettre): one message per notification, with a text and an
//! HTML body from templates (the findings with their details: the diff's
//! sentences for security, the certificate's dates for certs). Recipients:
//! `to`, plus each finding's `owner` label that is an address (`to_owners`,
//! on by default); when that leaves no one, `fallback`. STARTTLS (required,
//! never downgraded) or implicit TLS verify the server against the system's
//! roots and `ca_file`. With the default
//! grouping by owner, each owner gets one message for all their findings.

use crate::template::{HTML, SUBJECT, TEXT, Template};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::collections::BTreeSet;
use std::time::Duration;
use troop_config::SmtpSecurity;
use troop_core::alerting::Notification;
use troop_core::{Sink, SinkError};

pub struct SmtpSink {
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<String>,
    to_owners: bool,
    fallback: Option<String>,
    subject: Template,
    text: Template,
    html: Template,
}

pub struct SmtpSettings<'a> {
    pub server: &'a str,
    pub security: SmtpSecurity,
    pub ca_file: Option<&'a std::path::Path>,
    pub from: &'a str,
    pub to: &'a [String],
    pub to_owners: bool,
    pub fallback: Option<&'a str>,
    pub credentials: Option<(String, String)>,
    pub subject_template: Option<&'a std::path::Path>,
    pub text_template: Option<&'a std::path::Path>,
    pub html_template: Option<&'a std::path::Path>,
}

/// Whether `addr` is an address a message can go to (`a@b`, `Name <a@b>`),
/// as `build` parses it; `troop config check` asks the same.
pub fn check_mailbox(addr: &str) -> Result<(), String> {
    addr.parse::<Mailbox>().map(|_| ()).map_err(|e| format!("`{addr}` is not an e-mail address: {e}"))
}

impl SmtpSink {
    pub fn build(name: &str, s: SmtpSettings<'_>) -> Result<Self, String> {
        let (host, port) = s
            .server
            .rsplit_once(':')
            // `[::1]:25` names an IPv6 host: the brackets are not part of it
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("server `{}` is not host:port", s.server))?;
        let tls = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(host.clone());
            if let Some(ca) = s.ca_file {
                let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| e.to_string())
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host).tls(match s.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
        });
        let mut builder = builder.port(port).timeout(Some(Duration::from_secs(20)));
        if let Some((user, pass)) = s.credentials {
            builder = builder.credentials(Credentials::new(user, pass));
        }
        for addr in s.to.iter().map(String::as_str).chain(s.fallback) {
            addr.parse::<Mailbox>().map_err(|e| format!("`{addr}` is not an address: {e}"))?;
        }
        Ok(SmtpSink {
            name: name.into(),
            transport: builder.build(),
            from: s.from.parse().map_err(|e| format!("from `{}`: {e}", s.from))?,
            to: s.to.to_vec(),
            to_owners: s.to_owners,
            fallback: s.fallback.map(str::to_string),
            subject: Template::or_file(s.subject_template, "subject", SUBJECT)?,
            text: Template::or_file(s.text_template, "body.txt", TEXT)?,
            html: Template::or_file(s.html_template, "body.html", HTML)?,
        })
    }

    /// `to`, the owners' addresses, or else the fallback; sorted, no repeats.
    pub fn recipients(&self, n: &Notification) -> Vec<String> {
        let mut r: BTreeSet<String> = self.to.iter().cloned().collect();
        if self.to_owners {
            for f in n.firing.iter().chain(&n.resolved) {
                if let Some(o) = f.labels.get("owner").filter(|o| o.contains('@') && o.parse::<Mailbox>().is_ok()) {
                    r.insert(o.clone());
                }
            }
        }
        if r.is_empty()
            && let Some(f) = &self.fallback
        {
            r.insert(f.clone());
        }
        r.into_iter().collect()
    }

    pub fn message(&self, n: &Notification) -> Result<Message, String> {
        let ctx = crate::notification_json(n);
        let subject = self.subject.render(&ctx)?;
        let subject: String = subject.lines().next().unwrap_or_default().chars().take(200).collect();
        let mut b = Message::builder().from(self.from.clone()).subject(subject).message_id(None);
        let to = self.recipients(n);
        if to.is_empty() {
            return Err("no recipients: no `to`, no owner address, no `fallback`".into());
        }
        for t in &to {
            b = b.to(t.parse().map_err(|e| format!("`{t}`: {e}"))?);
        }
        b.multipart(MultiPart::alternative_plain_html(self.text.render(&ctx)?, self.html.render(&ctx)?))
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Sink for SmtpSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let msg = self.message(n).map_err(SinkError::Permanent)?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SinkError::Permanent(e.to_string())),
            Err(e) => Err(SinkError::transient(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
