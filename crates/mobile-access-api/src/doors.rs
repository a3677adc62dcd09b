//! Doors, their readers, and the access groups that open them.

use serde::{Deserialize, Serialize};

use crate::text::text_enum;

use crate::whole;

text_enum!(
    /// How a reader decides a phone is close enough.
    ReaderMode {
        /// The phone must touch the reader.
        Tap => "tap",
        /// Anywhere in radio range.
        Range => "range",
    }
);

/// `POST /v1/admin/doors`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewDoor {
    /// Display name.
    pub name: String,
    /// Whether opening it requires owner verification (default off): see
    /// [`Door::owner_verification`].
    #[serde(default)]
    pub owner_verification: bool,
    /// Whether members may open it hands-free (default off): see [`Door::hands_free`].
    #[serde(default)]
    pub hands_free: bool,
}

/// `PATCH /v1/admin/doors/{door_id}`: what is absent stays as it is.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DoorPatch {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// See [`Door::owner_verification`]. The door's readers learn it with their next poll;
    /// phones with their next key download.
    #[serde(default)]
    pub owner_verification: Option<bool>,
    /// See [`Door::hands_free`].
    #[serde(default)]
    pub hands_free: Option<bool>,
}

/// A door and the public facts of its readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Door {
    /// Door id (hex).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The protocol lock id (unique within the organization).
    pub lock: u32,
    /// Its readers.
    pub readers: Vec<ReaderFacts>,
    /// Opening it requires owner verification: the phone's owner proves themselves (biometric
    /// or passcode) for each opening, with a key the OS releases only then. Its readers accept
    /// only credentials bound to that key, and the cloud opens it over the network for no one.
    /// Absent from an older cloud, and in key bundles stored by older SDKs: off.
    #[serde(default)]
    pub owner_verification: bool,
    /// Members may open it hands-free where the organization allows it (`Settings::hands_free`)
    /// and they turned it on: the phone opens it when it stays within the door's distance of a
    /// range reader for a moment, without a tap. Never at tap readers, never with a wallet pass.
    /// Absent from an older cloud: off.
    #[serde(default)]
    pub hands_free: bool,
}

/// A tap reader's RSSI threshold when its installer gives none (dBm).
pub const DEFAULT_TAP_RSSI_THRESHOLD: i8 = -55;
/// A reader's calibrated transmit power at 1 m when its installer gives none (dBm).
pub const DEFAULT_TX_POWER: i8 = -59;

fn default_tap_rssi_threshold() -> i8 {
    DEFAULT_TAP_RSSI_THRESHOLD
}

fn default_tx_power() -> i8 {
    DEFAULT_TX_POWER
}

/// What a phone may know about a reader before meeting it.
///
/// The threshold and transmit power read as their defaults when absent: key bundles stored by
/// SDKs before this contract was shared kept readers without them, and must keep loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderFacts {
    /// Reader id (hex, 8 bytes), as the reader advertises it.
    pub reader_id: String,
    /// Hardware model, e.g. "Reader Pro 2.1".
    pub model: String,
    /// Tap or range.
    pub mode: ReaderMode,
    /// Whether the reader's tamper protection is on.
    pub tamper_protection: bool,
    /// RSSI (dBm) at tap distance.
    #[serde(default = "default_tap_rssi_threshold")]
    pub tap_rssi_threshold: i8,
    /// Calibrated transmit power at 1 m (dBm).
    #[serde(default = "default_tx_power")]
    pub tx_power: i8,
}

/// `POST /v1/admin/doors/{door_id}/readers`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewReader {
    /// Hardware model.
    pub model: String,
    /// Tap or range.
    pub mode: ReaderMode,
    /// Tamper protection on.
    pub tamper_protection: bool,
    /// Default [`DEFAULT_TAP_RSSI_THRESHOLD`].
    #[serde(default, deserialize_with = "whole::optional")]
    pub tap_rssi_threshold: Option<i8>,
    /// Default [`DEFAULT_TX_POWER`].
    #[serde(default, deserialize_with = "whole::optional")]
    pub tx_power: Option<i8>,
    /// How long the relay holds the door open; default 5000 ms.
    #[serde(default, deserialize_with = "whole::optional")]
    pub relay_open_ms: Option<u32>,
}

/// `POST /v1/admin/access-groups`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessGroup {
    /// Name; what the integration assigns members by.
    pub name: String,
    /// Doors the group opens.
    #[serde(default)]
    pub door_ids: Vec<String>,
}

/// An access group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGroup {
    /// Group id (hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// Doors it opens.
    pub door_ids: Vec<String>,
}
