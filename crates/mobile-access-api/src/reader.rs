//! What a reader gets when it is installed on a door, and what it polls while online.

use serde::{Deserialize, Serialize};

use crate::{ReaderMode, TrustAnchor};

/// Everything a reader needs to be installed: the shared contract with the reader crate.
/// `reader_key_seed` is secret and returned only here, once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioning {
    /// Reader id (hex, 8 bytes).
    pub reader_id: String,
    /// The door's lock id.
    pub lock: u32,
    /// The door's name.
    pub door_name: String,
    /// Hardware model.
    pub model: String,
    /// Tap or range.
    pub mode: ReaderMode,
    /// RSSI at tap distance.
    pub tap_rssi_threshold: i8,
    /// Transmit power at 1 m.
    pub tx_power: i8,
    /// Tamper protection on.
    pub tamper_protection: bool,
    /// The door requires owner verification (absent from an older cloud: off).
    #[serde(default)]
    pub owner_verification: bool,
    /// Relay open time.
    pub relay_open_ms: u32,
    /// SECRET: the reader's Ed25519 seed (hex, 32 bytes).
    pub reader_key_seed: String,
    /// Hex of `ReaderCertificate::encode()`.
    pub certificate: String,
    /// Keys the reader trusts.
    pub trust_anchors: Vec<TrustAnchor>,
    /// The organization's current revocation epoch.
    pub revocation_epoch: u32,
    /// SECRET: the reader's bearer token for `/v1/reader/*` (configuration and audit upload).
    pub reader_token: String,
}

impl std::fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioning")
            .field("reader_id", &self.reader_id)
            .field("lock", &self.lock)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// `GET /v1/reader/config`: what an online reader polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderSync {
    /// The calling reader (hex, 8 bytes).
    pub reader_id: String,
    /// Hex of the protocol's `SignedRevocationList`, signed now (its `issued_at` is the signed time).
    pub revocation_list: String,
    /// The cloud's clock.
    pub server_time: u32,
    /// Seconds until the reader should poll again.
    pub poll_secs: u32,
    /// Why listed credentials were revoked, where known (`pass_suspended`, `pass_deleted`,
    /// `pass_superseded`), by credential id: the list carries ids only, the reader logs and
    /// signals these reasons.
    #[serde(default)]
    pub revocation_reasons: std::collections::BTreeMap<String, String>,
    /// Whether the reader's door requires owner verification now: only credentials bound to
    /// the phone's owner key open it (absent from an older cloud: off).
    #[serde(default)]
    pub owner_verification: bool,
}
