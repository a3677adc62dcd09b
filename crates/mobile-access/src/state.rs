//! What the Key Button shows, and how long each phase of a tap took.

use std::time::Duration;

use mobile_access_protocol::Reason;

use crate::messages::{MessageKey, message};

/// The phases of a tap, each with its own timeout and its own measured duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Validating rights and downloading a key (skipped with a valid cached key).
    Key,
    /// Scanning for the nearest reader of a door the key opens (and waiting for a tap).
    Scan,
    /// Connecting and exchanging the ATT MTU.
    Connect,
    /// The unlock exchange itself.
    Exchange,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Key => "key download",
            Phase::Scan => "reader search",
            Phase::Connect => "connection",
            Phase::Exchange => "unlock exchange",
        })
    }
}

/// What the Key Button shows. Every change reaches the app's listener, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyButtonState {
    /// Not on the home screen, module off, or no access group: the button is not shown.
    Hidden,
    /// Shown, waiting for a tap.
    Ready,
    /// Checking the member's rights with the cloud.
    Validating,
    /// Downloading the digital key.
    DownloadingKey,
    /// Looking for the nearest reader.
    Searching,
    /// A tap-mode reader was found but the phone is not close enough.
    TapRequired,
    /// The door requires owner verification: the phone asks its owner (biometric or passcode).
    VerifyingOwner,
    /// Connected; exchanging with the reader.
    Unlocking,
    /// The reader proved the door opened.
    Unlocked,
    /// The reader proved it refused, and why.
    Denied(Reason),
    /// The tap failed before a proven answer.
    Failed(crate::Error),
}

impl KeyButtonState {
    /// A short hint to show under the button, from the app's message table (English by
    /// default); a failure's hint is the error's sentence for the member.
    pub fn hint(&self) -> String {
        let key = match self {
            KeyButtonState::Hidden => return String::new(),
            KeyButtonState::Ready => MessageKey::StateReady,
            KeyButtonState::Validating => MessageKey::StateValidating,
            KeyButtonState::DownloadingKey => MessageKey::StateDownloadingKey,
            KeyButtonState::Searching => MessageKey::StateSearching,
            KeyButtonState::TapRequired => MessageKey::StateTapRequired,
            KeyButtonState::VerifyingOwner => MessageKey::StateVerifyingOwner,
            KeyButtonState::Unlocking => MessageKey::StateUnlocking,
            KeyButtonState::Unlocked => MessageKey::StateUnlocked,
            KeyButtonState::Denied(reason) => MessageKey::for_reason(*reason),
            KeyButtonState::Failed(error) => return error.sentence(),
        };
        message(key)
    }

    /// True for the states a tap ends in.
    pub fn is_final(&self) -> bool {
        matches!(self, KeyButtonState::Unlocked | KeyButtonState::Denied(_) | KeyButtonState::Failed(_))
    }
}

/// How long each phase of one tap took. `key` is wall time (the network); the radio phases are
/// measured on the async runtime's clock, which is the simulated radio's virtual clock in
/// simulation and real time on a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhaseTimings {
    /// Validating and downloading the key; zero with a cached key.
    pub key: Duration,
    /// Scanning until the chosen reader was close enough.
    pub scan: Duration,
    /// Connecting and the MTU exchange.
    pub connect: Duration,
    /// The unlock exchange.
    pub exchange: Duration,
}

impl PhaseTimings {
    /// Time at the door: scan, connect and exchange.
    pub fn radio(&self) -> Duration {
        self.scan + self.connect + self.exchange
    }
}
