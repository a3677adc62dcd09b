//! Attempts recorded where they happened (on a reader or a phone) and uploaded later.

use serde::{Deserialize, Serialize};

use crate::whole;

/// One attempt or result recorded while offline, uploaded later. `event_id` is stable (chosen
/// where the event happened), so uploading it again is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UploadedEvent {
    /// Stable id, 1 to 100 characters; kept once per organization.
    pub event_id: String,
    /// When it happened (the recorder's clock).
    #[serde(deserialize_with = "whole::number")]
    pub at: u32,
    /// `granted`, `refused`, `interrupted` (readers) or the app's result (`unlocked`, `failed`).
    pub outcome: String,
    /// The reason code's name, if any (e.g. `revoked`).
    #[serde(default)]
    pub reason: Option<String>,
    /// `full` or `fast`.
    #[serde(default)]
    pub exchange: Option<String>,
    /// The credential presented (hex), if known.
    #[serde(default)]
    pub credential_id: Option<String>,
    /// The member (hex), if known.
    #[serde(default)]
    pub member_id: Option<String>,
    /// The reader (hex), for app events.
    #[serde(default)]
    pub reader_id: Option<String>,
    /// Signal strength the reader heard, dBm.
    #[serde(default, deserialize_with = "whole::optional")]
    pub rssi: Option<i16>,
}

/// `POST /v1/reader/events` and `POST /v1/me/events`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventUpload {
    /// At most 1000 events.
    pub events: Vec<UploadedEvent>,
}

/// What an upload kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReport {
    /// Events stored now.
    pub accepted: u32,
    /// Events already stored by an earlier upload (ignored).
    pub duplicates: u32,
}
