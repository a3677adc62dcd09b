//! The outbox of mails the cloud sends, and the audit log.

use serde::{Deserialize, Serialize};

use crate::text::text_enum;

text_enum!(
    /// Where an outbox mail is in its delivery.
    MailState {
        /// Waiting for its (next) delivery attempt, or for an SMTP server to be configured.
        Queued => "queued",
        /// Accepted by the SMTP server.
        Sent => "sent",
        /// Refused for good (a permanent SMTP error, or every attempt failed): not retried.
        Failed => "failed",
    }
);

/// An email of the outbox, as administrators see it: who it is for, what it is and how its
/// delivery goes, never its body. Invitation mails carry a token that sets the member's password,
/// so only the member's mailbox ever sees a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMail {
    /// Sequence number.
    pub id: i64,
    /// Recipient member (may since have been removed).
    pub member_id: String,
    /// `welcome`, `invitation` or `access`.
    pub kind: String,
    /// Address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// When it was queued.
    pub created_at: u32,
    /// Queued, sent or failed.
    pub state: MailState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// While queued: when the next attempt is due.
    pub next_attempt_at: Option<u32>,
    /// When the SMTP server accepted it.
    pub sent_at: Option<u32>,
    /// Why the last attempt failed (the SMTP server's answer or the connection error).
    pub last_error: Option<String>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When.
    pub at: u32,
    /// Who: `admin`, `integration`, `member:<id>`, `operator`.
    pub actor: String,
    /// What, e.g. `keys.issued`.
    pub action: String,
    /// The object acted on.
    pub subject: String,
    /// Details.
    pub detail: serde_json::Value,
}
