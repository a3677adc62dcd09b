//! The rules request fields follow, defined once: the store's checks enforce them and the
//! OpenAPI document (`http::openapi`) states them from the same values, so a client (or a
//! fuzzer) that follows the document is never refused for a field, and one that does not is.
//!
//! Lengths count characters (Unicode scalar values), as JSON Schema's `minLength`/`maxLength`
//! do. "Not blank" means holding a character other than ASCII whitespace, the pattern
//! [`NOT_BLANK`]; surrounding ASCII whitespace is trimmed off before a value is stored.

use crate::{Error, Result};

/// JSON Schema pattern of a text holding something other than ASCII whitespace (space, tab,
/// line feed, form feed, carriage return: what `char::is_ascii_whitespace` trims).
pub const NOT_BLANK: &str = "[^\\t\\n\\f\\r ]";

/// A text field: `min..=max` characters, and not blank when `not_blank`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// Fewest characters.
    pub min: usize,
    /// Most characters.
    pub max: usize,
    /// Must hold a character other than ASCII whitespace.
    pub not_blank: bool,
}

impl TextRule {
    const fn named(max: usize) -> Self {
        Self { min: 1, max, not_blank: true }
    }

    /// `value` if it follows the rule, with surrounding ASCII whitespace trimmed off when the rule
    /// is about names; `invalid_request` naming `what` otherwise.
    pub fn check<'a>(&self, what: &str, value: &'a str) -> Result<&'a str> {
        let count = value.chars().count();
        let blank = self.not_blank && value.chars().all(|c| c.is_ascii_whitespace());
        if count < self.min || count > self.max || blank {
            let shape = if self.not_blank { ", not only spaces" } else { "" };
            return Err(Error::invalid(format!("{what} must be {} to {} characters{shape}", self.min, self.max)));
        }
        Ok(if self.not_blank { value.trim_matches(|c: char| c.is_ascii_whitespace()) } else { value })
    }
}

/// Names of organizations, doors, access groups, reader models and members.
pub const NAME: TextRule = TextRule::named(200);
/// The workspace platform's member id.
pub const EXTERNAL_ID: TextRule = TextRule::named(200);
/// A member's email: at most this long, and it holds an `@` ([`EMAIL_PATTERN`]).
pub const EMAIL: TextRule = TextRule::named(320);
/// JSON Schema pattern an email must match.
pub const EMAIL_PATTERN: &str = "@";
/// A key fob's or card's printed number.
pub const NUMBER: TextRule = TextRule::named(64);
/// An uploaded event's stable id.
pub const EVENT_ID: TextRule = TextRule::named(100);
/// An uploaded event's outcome.
pub const OUTCOME: TextRule = TextRule { min: 1, max: 40, not_blank: false };
/// An uploaded event's reason and exchange, when present.
pub const EVENT_WORD: TextRule = TextRule { min: 0, max: 40, not_blank: false };
/// A wallet device identifier (iPhone, Watch).
pub const DEVICE_ID: TextRule = TextRule::named(200);
/// A password set by accepting an invitation.
pub const PASSWORD: TextRule = TextRule { min: 8, max: 1024, not_blank: false };

/// An iOS or app version: one to four numbers separated by dots (compared numerically).
pub const VERSION_PATTERN: &str = "^[0-9]{1,9}(\\.[0-9]{1,9}){0,3}$";

/// A numeric paging cursor (audit log, outbox): the id of the last item seen.
pub const SEQUENCE_CURSOR_PATTERN: &str = "^[0-9]{1,18}$";

/// Key lifetimes an organization may set, in seconds (one minute to 30 days).
pub const KEY_VALIDITY_SECS: (u32, u32) = (60, 30 * 86_400);
/// How long a relay may hold a door open, in milliseconds.
pub const RELAY_OPEN_MS: (u32, u32) = (1, 60_000);
/// A reader's tap threshold, dBm: negative.
pub const TAP_RSSI_THRESHOLD: (i8, i8) = (i8::MIN, -1);
/// A reader's transmit power at 1 m, dBm.
pub const TX_POWER: (i8, i8) = (i8::MIN, 20);
/// Members in one sync call.
pub const MAX_MEMBERS_PER_SYNC: usize = 100_000;
/// Events in one upload.
pub const MAX_EVENTS_PER_UPLOAD: usize = 1000;

/// Whether `text` is a version ([`VERSION_PATTERN`]); its numbers if so.
pub fn version(text: &str) -> Option<Vec<u32>> {
    let parts: Vec<&str> = text.split('.').collect();
    let numeric = |p: &&str| (1..=9).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() > 4 || !parts.iter().all(numeric) {
        return None;
    }
    parts.iter().map(|p| p.parse().ok()).collect()
}

/// Whether `text` is a numeric cursor ([`SEQUENCE_CURSOR_PATTERN`]); its value if so.
pub fn sequence_cursor(text: &str) -> Option<i64> {
    ((1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules_count_characters_and_refuse_blanks() {
        assert_eq!(NAME.check("name", "  Front door \t").ok(), Some("Front door"));
        assert!(NAME.check("name", " \t\r\n").is_err());
        assert!(NAME.check("name", "").is_err());
        // Not ASCII whitespace: a name like any other.
        assert!(NAME.check("name", "\u{3000}").is_ok());
        assert!(NAME.check("name", &"é".repeat(200)).is_ok());
        assert!(NAME.check("name", &"é".repeat(201)).is_err());
        // Padding counts: the document limits the value as sent.
        assert!(NAME.check("name", &format!(" {} ", "a".repeat(199))).is_err());
        assert!(PASSWORD.check("password", "       ").is_err());
        assert!(PASSWORD.check("password", "        ").is_ok());
    }

    #[test]
    fn versions_and_cursors_are_digits_only() {
        assert_eq!(version("17.4.1"), Some(vec![17, 4, 1]));
        assert_eq!(version("46"), Some(vec![46]));
        for bad in ["", "+1", " 17", "17.", "1.2.3.4.5", "1234567890", "17.4 "] {
            assert_eq!(version(bad), None, "{bad:?}");
        }
        assert_eq!(sequence_cursor("42"), Some(42));
        for bad in ["", "+1", "-1", " 1", "1234567890123456789"] {
            assert_eq!(sequence_cursor(bad), None, "{bad:?}");
        }
    }
}
