//! Mail delivery: the background sender that takes due rows of the outbox, hands them to an SMTP
//! server (lettre, on tokio, STARTTLS or TLS through rustls), marks them sent and retries
//! failures with exponential backoff.
//!
//! Why a queue and a sender instead of sending in the request: a sync of 10,000 members queues
//! 10,000 mails in one transaction and must not wait for, or fail with, the mail server. The
//! rows are the queue, so mail survives restarts and replicas share the work (a row is claimed by
//! a conditional update, see [`crate::store::Store::claim_due_mail`]). Without an SMTP server
//! configured mail stays queued, and the server says so once at start.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::{
    Error, Result,
    http::Background,
    store::{QueuedMail, Store, now},
};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a relay on the same host or a trusted network (a local MTA, tests).
    /// Credentials are refused over it, since they would cross the network in clear.
    Plain,
    /// STARTTLS, required (port 587): the connection is upgraded before anything is sent, and
    /// a server that does not offer it gets nothing.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// An SMTP login. The password is wiped on drop and never printed (`Debug` redacts it).
#[derive(Clone)]
pub struct SmtpCredentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCredentials").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// The server's host name (also the name its TLS certificate is checked against).
    pub host: String,
    /// Its port (587 for STARTTLS, 465 for TLS, 25 for a local relay).
    pub port: u16,
    /// Connection protection.
    pub security: SmtpSecurity,
    /// The `From` address, e.g. `Acme Access <access@acme.example>`.
    pub from: String,
    /// A login, if the server wants one.
    pub credentials: Option<SmtpCredentials>,
    /// How long one delivery (connect, TLS, the whole SMTP dialogue) may take.
    pub timeout: Duration,
}

/// How mail is delivered.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// The SMTP server; `None` keeps mail queued (the outbox shows it) until one is configured.
    pub smtp: Option<Smtp>,
    /// How often the sender looks for due mail when the outbox is idle.
    pub poll_interval: Duration,
    /// Mails claimed at once.
    pub batch: u32,
    /// Wait after the first failed attempt; doubled after each further one…
    pub retry_base: Duration,
    /// …up to this.
    pub retry_max: Duration,
    /// Attempts before a mail that keeps failing transiently is given up (marked `failed`).
    pub max_attempts: u32,
}

impl Default for MailConfig {
    /// No SMTP server; retries after 30 s, 1 min, 2 min… at most an hour apart, 12 attempts
    /// (about 6 hours: long enough for a mail server's maintenance, short enough that an
    /// invitation does not arrive days late without anyone noticing the `failed` state).
    fn default() -> Self {
        Self {
            smtp: None,
            poll_interval: Duration::from_secs(5),
            batch: 50,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 12,
        }
    }
}

impl MailConfig {
    /// The wait before attempt `attempts + 1`, after `attempts` failed ones: `retry_base`
    /// doubled per further failure, capped at `retry_max`.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(1 << doublings).min(self.retry_max)
    }
}

/// A connected-on-demand SMTP client with its sender address.
pub(crate) struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    config: MailConfig,
    lease: u32,
}

/// Why one delivery failed, and whether trying again can help.
struct Failure {
    message: String,
    permanent: bool,
}

impl Sender {
    fn new(smtp: &Smtp, config: &MailConfig) -> Result<Self> {
        let from: Mailbox =
            smtp.from.parse().map_err(|e| Error::invalid(format!("the SMTP from address {:?}: {e}", smtp.from)))?;
        let tls_error = |e: lettre::transport::smtp::Error| Error::invalid(format!("SMTP TLS set-up: {e}"));
        let builder = match smtp.security {
            SmtpSecurity::Plain => {
                if smtp.credentials.is_some() {
                    return Err(Error::invalid(
                        "SMTP credentials need STARTTLS or TLS: over plain SMTP the password would cross the network \
                         in clear",
                    ));
                }
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            }
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(tls_error)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(tls_error)?,
        };
        let mut builder = builder.port(smtp.port).timeout(Some(smtp.timeout));
        if let Some(login) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(login.user.clone(), login.password.as_str().to_owned()));
        }
        // A claim outlives the slowest delivery, so no other sender takes a mail still being sent.
        let lease = u32::try_from(smtp.timeout.as_secs().saturating_mul(2).saturating_add(60)).unwrap_or(u32::MAX);
        Ok(Self { transport: builder.build(), from, config: config.clone(), lease })
    }

    async fn send(&self, mail: &QueuedMail) -> std::result::Result<(), Failure> {
        let permanent = |message: String| Failure { message, permanent: true };
        let to: Mailbox = mail.recipient.parse().map_err(|e| permanent(format!("recipient address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| permanent(format!("building the message: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| Failure { permanent: e.is_permanent(), message: e.to_string() })
    }

    /// Delivers what is due now; returns how many mails it claimed.
    async fn deliver_due(&self, store: &Store, stop: &CancellationToken) -> Result<usize> {
        let mails = store.claim_due_mail(now(), self.lease, i64::from(self.config.batch)).await?;
        let claimed = mails.len();
        for mail in mails {
            if stop.is_cancelled() {
                // Unsent claims come back when their lease ends (the next start, or another replica).
                break;
            }
            match self.send(&mail).await {
                Ok(()) => {
                    store.mail_sent(mail.id).await?;
                    tracing::info!(mail = mail.id, kind = %mail.kind, attempts = mail.attempts, "mail sent");
                }
                Err(failure) => {
                    let give_up = failure.permanent || mail.attempts >= self.config.max_attempts;
                    let retry_at = (!give_up).then(|| {
                        let wait = u32::try_from(self.config.retry_delay(mail.attempts).as_secs()).unwrap_or(u32::MAX);
                        now().saturating_add(wait.max(1))
                    });
                    store.mail_failed(mail.id, &failure.message, retry_at).await?;
                    // The SMTP answer names neither the body nor the login.
                    tracing::warn!(
                        mail = mail.id, kind = %mail.kind, attempts = mail.attempts, retry_at, error = %failure.message,
                        "mail not sent"
                    );
                }
            }
        }
        Ok(claimed)
    }
}

/// Checks the mail configuration before the server starts (a bad from address, credentials over
/// plain SMTP fail the start), or says once that mail stays queued when no SMTP server is set.
pub(crate) fn prepare(config: &MailConfig) -> Result<Option<Sender>> {
    let Some(smtp) = &config.smtp else {
        tracing::warn!("no SMTP server configured: mail stays queued in the outbox until one is (serve --smtp-host)");
        return Ok(None);
    };
    let sender = Sender::new(smtp, config)?;
    tracing::info!(host = %smtp.host, port = smtp.port, security = ?smtp.security, "delivering mail over SMTP");
    Ok(Some(sender))
}

/// Runs the sender on `background` until shutdown, which it heeds after the mail in hand.
pub(crate) fn run(background: &Background, store: Store, sender: Sender) {
    background.spawn_job(|stop| async move {
        loop {
            let busy = match sender.deliver_due(&store, &stop).await {
                Ok(claimed) => claimed >= usize::try_from(sender.config.batch).unwrap_or(usize::MAX),
                Err(error) => {
                    tracing::warn!(%error, "mail delivery interrupted; trying again");
                    false
                }
            };
            if stop.is_cancelled() {
                break;
            }
            if !busy {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(sender.config.poll_interval) => {}
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let config = MailConfig::default();
        let waits: Vec<u64> = (1..=10).map(|n| config.retry_delay(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(config.retry_delay(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn a_password_never_appears_in_debug_output() {
        let smtp = Smtp {
            host: "smtp.example".to_owned(),
            port: 587,
            security: SmtpSecurity::StartTls,
            from: "access@example.com".to_owned(),
            credentials: Some(SmtpCredentials {
                user: "mailer".to_owned(),
                password: Zeroizing::new("hunter2-secret".to_owned()),
            }),
            timeout: Duration::from_secs(30),
        };
        let text = format!("{smtp:?}");
        assert!(text.contains("mailer") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn credentials_over_plain_smtp_are_refused() {
        let smtp = Smtp {
            host: "127.0.0.1".to_owned(),
            port: 25,
            security: SmtpSecurity::Plain,
            from: "access@example.com".to_owned(),
            credentials: Some(SmtpCredentials { user: "u".to_owned(), password: Zeroizing::new("p".to_owned()) }),
            timeout: Duration::from_secs(5),
        };
        assert!(matches!(Sender::new(&smtp, &MailConfig::default()), Err(Error::InvalidRequest(_))));
        let smtp = Smtp { credentials: None, ..smtp };
        assert!(Sender::new(&smtp, &MailConfig::default()).is_ok());
        let smtp = Smtp { from: "not an address".to_owned(), ..smtp };
        assert!(matches!(Sender::new(&smtp, &MailConfig::default()), Err(Error::InvalidRequest(_))));
    }
}
