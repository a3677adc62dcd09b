//! What every page shows around its content, and how values read to an administrator: times in
//! UTC, statuses in the product's words ("not-confirmed"), attempts green or red.

use serde_json::Value;

use super::session::Admin;
use crate::api::{AuditEntry, MemberStatus, User};

/// The frame of every signed-in page: who is signed in, where they are, the sign-out form.
pub(super) struct Nav {
    /// The organization's name.
    pub org_name: String,
    /// The administrator's email.
    pub admin_email: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
    /// Which section is open (`members`, `credentials`, `doors`, `settings`, `emails`, `audit`).
    pub section: &'static str,
}

impl Nav {
    pub(super) async fn new(
        admin: &Admin,
        state: &crate::http::AppState,
        section: &'static str,
    ) -> crate::Result<Self> {
        let organization = state.store.organization(admin.org()).await?;
        Ok(Self {
            org_name: organization.name,
            admin_email: admin.who.email.clone(),
            csrf: admin.csrf.clone(),
            section,
        })
    }

    /// `aria-current` for the open section's link.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section { "page" } else { "false" }
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn when(secs: u32) -> String {
    let days = i64::from(secs / 86_400);
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A member's status as the product says it.
pub(super) fn status_label(status: MemberStatus) -> &'static str {
    match status {
        MemberStatus::Confirmed => "confirmed",
        MemberStatus::NotConfirmed => "not-confirmed",
    }
}

/// One row of a members table.
pub(super) struct MemberRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: &'static str,
    pub managed: bool,
    pub groups: String,
    pub fobs_and_cards: String,
}

impl MemberRow {
    pub(super) fn new(user: &User, fobs_and_cards: String) -> Self {
        Self {
            id: user.member_id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            status: status_label(user.status),
            managed: user.managed,
            groups: if user.access_groups.is_empty() { "—".to_owned() } else { user.access_groups.join(", ") },
            fobs_and_cards,
        }
    }
}

/// One audit entry as a table row; attempts carry their outcome (green when granted, red
/// otherwise) and reason.
pub(super) struct EntryRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// `granted`, `refused`, … for attempts; empty otherwise.
    pub outcome: String,
    /// True when the attempt opened the door (green).
    pub granted: bool,
    pub reason: String,
    /// The rest of the detail, as compact JSON.
    pub detail: String,
}

impl EntryRow {
    pub(super) fn new(entry: &AuditEntry) -> Self {
        let text = |key: &str| entry.detail.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let outcome = text("outcome");
        let granted = matches!(outcome.as_str(), "granted" | "unlocked");
        Self {
            id: entry.id,
            at: when(entry.at),
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            subject: entry.subject.clone(),
            reason: text("reason"),
            granted,
            outcome,
            detail: match &entry.detail {
                Value::Object(map) if map.is_empty() => String::new(),
                Value::Null => String::new(),
                other => other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::when(1_685_577_600), "2023-06-01 00:00:00 UTC");
        assert_eq!(super::when(1_709_210_096), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn statuses_read_as_the_product_says_them() {
        assert_eq!(super::status_label(crate::api::MemberStatus::NotConfirmed), "not-confirmed");
    }
}
