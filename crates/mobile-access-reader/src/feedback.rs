//! What the member at the door sees and hears, and what the door does.

use std::time::Instant;

use mobile_access_protocol::Reason;

/// The reader's LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Light {
    /// Unlocked.
    Green,
    /// Refused.
    Red,
}

/// The reader's buzzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sound {
    /// The rising chirp of an unlock.
    Success,
    /// The low buzz of a refusal.
    Error,
}

/// One observable thing the reader did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// Light and sound for a decision, with its reason.
    Signal {
        /// Green or red.
        light: Light,
        /// Success or error.
        sound: Sound,
        /// Why.
        reason: Reason,
    },
    /// The relay opened (the door can be pushed open).
    RelayOpened,
    /// The relay closed again.
    RelayClosed,
}

/// A [`Feedback`] and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackEvent {
    /// When.
    pub at: Instant,
    /// What.
    pub feedback: Feedback,
}
