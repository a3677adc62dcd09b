//! Remote unlock: a member opens a door over the network when Bluetooth cannot (switched off,
//! failing, or the member chose it), and the door's reader, online, is told at once.
//!
//! The flow: the member's app sends `POST /v1/me/doors/{door_id}/unlock`; the cloud checks the
//! organization's [`RemoteUnlock`] policy and the member's rights to the door, queues an `open`
//! command for the door's reader and waits (a few seconds at most) for the reader to say what it
//! did. The reader holds a long poll open, `GET /v1/reader/commands`, which the cloud answers the
//! moment a command is queued; it opens its relay and answers with
//! `POST /v1/reader/commands/{command_id}/result`. Every attempt is audited, refused ones too.
//!
//! Proximity: where the organization requires it, the member must prove the phone is at the
//! door. The proof is a nonce the door's reader advertised, which a phone can only have heard
//! over Bluetooth near the door. Nonces rotate every half second, so with each long poll the
//! reader announces those a phone may hear until its next poll (the previous, the current and
//! the next ones, drawn ahead of time), and the cloud checks the proof against that list.

use serde::{Deserialize, Serialize};

use crate::text::text_enum;

text_enum!(
    /// Whether an organization's members may unlock over the network.
    #[derive(Default)]
    RemoteUnlock {
        /// Only over Bluetooth (and NFC): the default.
        #[default]
        Off => "off",
        /// From anywhere, for the member's doors whose reader is online.
        Allowed => "allowed",
        /// Only with a proof that the phone is at the door ([`Proximity`]).
        ProximityRequired => "proximity_required",
    }
);

/// One of the member's doors, as `GET /v1/me/doors` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDoor {
    /// Door id (hex): what `POST /v1/me/doors/{door_id}/unlock` takes.
    pub door_id: String,
    /// Its name, to show.
    pub name: String,
    /// True if one of its readers polled the cloud lately: a remote unlock can reach it now.
    pub reader_online: bool,
}

/// `GET /v1/me/doors`: the doors the member's access groups open, and whether the organization
/// lets them be opened over the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDoors {
    /// The organization's policy.
    pub remote_unlock: RemoteUnlock,
    /// By name.
    pub doors: Vec<MemberDoor>,
}

/// What a phone heard at the door: the reader's id and the nonce it advertised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proximity {
    /// The reader heard (hex, 8 bytes).
    pub reader_id: String,
    /// The nonce in its advertisement (hex, 8 bytes).
    pub nonce: String,
}

/// `POST /v1/me/doors/{door_id}/unlock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteUnlockRequest {
    /// Required where the organization's policy is `proximity_required`.
    #[serde(default)]
    pub proximity: Option<Proximity>,
}

/// The answer to a remote unlock the reader carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteUnlockResult {
    /// The door opened.
    pub door_id: String,
    /// Its name, to show.
    pub door_name: String,
    /// The reader that opened it.
    pub reader_id: String,
    /// When the reader reported the relay open (the cloud's clock).
    pub opened_at: u32,
    /// Milliseconds from the request to the reader's answer, as the cloud measured them.
    pub took_ms: u32,
}

text_enum!(
    /// What a reader is told to do.
    CommandKind {
        /// Open the relay for its open time, with the granted feedback.
        Open => "open",
    }
);

/// The most nonces one poll may announce.
pub const MAX_ANNOUNCED_NONCES: usize = 128;

/// One command for a reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderCommand {
    /// Command id (hex, 16 bytes): what the reader answers to.
    pub command_id: String,
    /// What to do.
    pub kind: CommandKind,
    /// Who asked (hex, 16 bytes), for the reader's own audit log.
    pub member_id: String,
    /// When it was asked.
    pub issued_at: u32,
    /// The reader acts on it only within this many milliseconds of receiving it (counted on its
    /// own clock, so clocks need not agree): past that, the member has stopped waiting.
    pub valid_for_ms: u32,
}

/// `GET /v1/reader/commands?wait_secs=N&nonces=HEX,HEX,…`: the commands waiting for the reader,
/// answered as soon as there is one, or empty after `wait_secs`. A command is given to every
/// poll until the reader reports its result (a poll whose connection died may have carried it
/// to nobody): the reader acts on each command id once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderCommands {
    /// Oldest first.
    pub commands: Vec<ReaderCommand>,
}

text_enum!(
    /// What a reader did with a command.
    CommandOutcome {
        /// The relay opened.
        Opened => "opened",
        /// The command's time ran out before the reader could act on it.
        Expired => "expired",
        /// The reader could not drive its relay.
        Failed => "failed",
    }
);

/// `POST /v1/reader/commands/{command_id}/result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandResult {
    /// What happened.
    pub outcome: CommandOutcome,
}

/// `GET /v1/reader/commands?wait_secs=&nonces=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandPollQuery {
    /// How long to hold the poll open while no command waits, 0 to 25 (default 25).
    pub wait_secs: Option<u32>,
    /// The nonces a phone may hear from the reader until its next poll, comma-separated (hex,
    /// 8 bytes each, at most [`MAX_ANNOUNCED_NONCES`]): what a phone at the door heard is one
    /// of them. Replaces the list announced before; absent, the list stays as it was.
    pub nonces: Option<String>,
}
