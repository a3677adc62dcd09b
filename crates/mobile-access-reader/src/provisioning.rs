//! What the access cloud gives a reader when it is installed on a door: the shared JSON
//! contract of `POST /v1/admin/doors/{door_id}/readers`, byte strings as lowercase hex.

use mobile_access_protocol::{
    LockId, OrgId, OrganizationKey, OrganizationPublicKey, ReaderCertificate, ReaderId, ReaderKey, UnlockMode,
};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, hex};

/// How the reader decides the phone is close enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The phone must touch the reader: the reader refuses phones it hears below its
    /// `tap_rssi_threshold`, and phones it cannot measure (a controller that reports no RSSI).
    Tap,
    /// Anywhere in radio range (for doors where the member presses the app's button from afar).
    /// Needs no RSSI.
    Range,
}

impl From<Mode> for UnlockMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Tap => UnlockMode::Tap,
            Mode::Range => UnlockMode::Range,
        }
    }
}

/// The reader's Ed25519 key seed. Secret: its `Debug` never shows it, and it is only written
/// out by [`Provisioning::to_json`] (for the installer's secure channel).
#[derive(Clone, PartialEq, Eq)]
pub struct ReaderSeed(pub [u8; 32]);

impl Drop for ReaderSeed {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for ReaderSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReaderSeed(<redacted>)")
    }
}

/// The reader's bearer token for the cloud's `/v1/reader/*` routes. Secret: its `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ReaderToken(pub String);

impl Drop for ReaderToken {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for ReaderToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReaderToken(<redacted>)")
    }
}

/// An organization key the reader trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The organization.
    pub org: OrgId,
    /// Its Ed25519 public key.
    pub public_key: [u8; 32],
}

impl TrustAnchor {
    /// The protocol's form (with the derived key id).
    pub fn public(&self) -> OrganizationPublicKey {
        OrganizationPublicKey::new(self.org, self.public_key)
    }
}

/// Everything a reader is provisioned with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "wire::Provisioning", into = "wire::Provisioning")]
pub struct Provisioning {
    /// The reader, as it advertises itself.
    pub reader_id: ReaderId,
    /// The lock (door) it opens.
    pub lock: LockId,
    /// Human name of the door, for logs and the admin console.
    pub door_name: String,
    /// Hardware model, e.g. "Reader Pro 2.1".
    pub model: String,
    /// Tap or range.
    pub mode: Mode,
    /// RSSI (dBm) at tap distance: a tap-mode reader refuses phones it hears below it.
    pub tap_rssi_threshold: i8,
    /// A range-mode reader's maximum distance, as the weakest RSSI (dBm) it accepts: phones it
    /// hears below it (or cannot measure) are refused with `NotCloseEnough`, and phones skip it
    /// beyond it. `None`: no maximum distance, anywhere in radio range (the operator's explicit
    /// choice). Ignored in tap mode. Optional in the JSON (`range_rssi_floor`).
    pub range_rssi_floor: Option<i8>,
    /// Calibrated TX power at 1 m (dBm), advertised for phones to rank readers by distance.
    pub tx_power: i8,
    /// Whether the tamper switch blocks unlocking once tripped.
    pub tamper_protection: bool,
    /// Whether the door requires owner verification (see `Reader::set_owner_verification`).
    /// Optional in the JSON (`owner_verification`, default off): provisioning made before the
    /// setting existed keeps loading.
    pub owner_verification: bool,
    /// How long the relay stays open after a grant, in milliseconds.
    pub relay_open_ms: u32,
    /// The reader's secret key seed.
    pub reader_key_seed: ReaderSeed,
    /// The organization's certificate for this reader's key on this lock.
    pub certificate: ReaderCertificate,
    /// Organization keys whose credentials the reader accepts.
    pub trust_anchors: Vec<TrustAnchor>,
    /// Credentials with a lower revocation epoch are refused.
    pub revocation_epoch: u32,
    /// The token the reader polls its configuration and uploads its audit log with; absent in
    /// provisioning made before the cloud issued them, and in readers made offline.
    pub reader_token: Option<ReaderToken>,
}

impl Provisioning {
    /// Parses the contract's JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Json(e.to_string()))
    }

    /// Writes the contract's JSON (seed included: for a secure channel only).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Json(e.to_string()))
    }

    /// Provisions a new reader of `org` on `lock` with a fresh key, in tap mode with the
    /// defaults of a Reader Pro (threshold −55 dBm, TX power −59 dBm, tamper protection on,
    /// relay open 5 s). What the cloud does; here for tests and the desktop harness.
    pub fn generate(
        org: &OrganizationKey,
        reader_id: ReaderId,
        lock: LockId,
        door_name: &str,
        rng: &dyn SecureRandom,
    ) -> Result<Self> {
        let mut seed = [0u8; 32];
        rng.fill(&mut seed).map_err(|_| mobile_access_protocol::Error::Crypto("random generator failed"))?;
        let key = ReaderKey::from_seed(seed)?;
        let public = org.public();
        Ok(Self {
            reader_id,
            lock,
            door_name: door_name.to_owned(),
            model: "Reader Pro 2.1".to_owned(),
            mode: Mode::Tap,
            tap_rssi_threshold: -55,
            range_rssi_floor: None,
            tx_power: -59,
            tamper_protection: true,
            owner_verification: false,
            relay_open_ms: 5000,
            reader_key_seed: ReaderSeed(seed),
            certificate: org.certify_reader(reader_id, lock, key.public()),
            trust_anchors: vec![TrustAnchor { org: public.org, public_key: public.key }],
            revocation_epoch: 0,
            reader_token: None,
        })
    }

    /// The reader key, after checking that the provisioning hangs together: the certificate
    /// names this reader, this lock and this key, and one of the trust anchors signed it.
    pub fn reader_key(&self) -> Result<ReaderKey> {
        let key = ReaderKey::from_seed(self.reader_key_seed.0)?;
        let cert = &self.certificate;
        if cert.reader != self.reader_id {
            return Err(Error::Inconsistent("certificate names another reader"));
        }
        if cert.lock != self.lock {
            return Err(Error::Inconsistent("certificate names another lock"));
        }
        if cert.reader_key != key.public() {
            return Err(Error::Inconsistent("certificate is for another reader key"));
        }
        if !self.trust_anchors.iter().any(|a| cert.verify(&a.public())) {
            return Err(Error::Inconsistent("no trust anchor signed the reader certificate"));
        }
        Ok(key)
    }
}

/// The JSON shape, strings for byte strings.
mod wire {
    use serde::{Deserialize, Serialize};

    use crate::{Error, hex};

    #[derive(Serialize, Deserialize)]
    pub(super) struct Anchor {
        pub(super) org: String,
        pub(super) public_key: String,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct Provisioning {
        pub(super) reader_id: String,
        pub(super) lock: u32,
        pub(super) door_name: String,
        pub(super) model: String,
        pub(super) mode: super::Mode,
        pub(super) tap_rssi_threshold: i8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) range_rssi_floor: Option<i8>,
        pub(super) tx_power: i8,
        pub(super) tamper_protection: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub(super) owner_verification: bool,
        pub(super) relay_open_ms: u32,
        pub(super) reader_key_seed: String,
        pub(super) certificate: String,
        pub(super) trust_anchors: Vec<Anchor>,
        pub(super) revocation_epoch: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) reader_token: Option<String>,
    }

    pub(super) fn array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], Error> {
        hex::decode_array(text).ok_or(Error::Hex { field, expected: N })
    }
}

impl TryFrom<wire::Provisioning> for Provisioning {
    type Error = Error;

    fn try_from(w: wire::Provisioning) -> Result<Self> {
        let reader_id = ReaderId(wire::array("reader_id", &w.reader_id)?);
        let certificate = hex::decode(&w.certificate)
            .ok_or(Error::Hex { field: "certificate", expected: mobile_access_protocol::READER_CERTIFICATE_LEN })?;
        let trust_anchors = w
            .trust_anchors
            .iter()
            .map(|a| {
                Ok(TrustAnchor {
                    org: OrgId(wire::array("trust_anchors.org", &a.org)?),
                    public_key: wire::array("trust_anchors.public_key", &a.public_key)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            reader_id,
            lock: LockId(w.lock),
            door_name: w.door_name,
            model: w.model,
            mode: w.mode,
            tap_rssi_threshold: w.tap_rssi_threshold,
            range_rssi_floor: w.range_rssi_floor,
            tx_power: w.tx_power,
            tamper_protection: w.tamper_protection,
            owner_verification: w.owner_verification,
            relay_open_ms: w.relay_open_ms,
            reader_key_seed: ReaderSeed(wire::array("reader_key_seed", &w.reader_key_seed)?),
            certificate: ReaderCertificate::decode(&certificate)?,
            trust_anchors,
            revocation_epoch: w.revocation_epoch,
            reader_token: w.reader_token.map(ReaderToken),
        })
    }
}

impl From<Provisioning> for wire::Provisioning {
    fn from(p: Provisioning) -> Self {
        Self {
            reader_id: hex::encode(&p.reader_id.0),
            lock: p.lock.0,
            door_name: p.door_name,
            model: p.model,
            mode: p.mode,
            tap_rssi_threshold: p.tap_rssi_threshold,
            range_rssi_floor: p.range_rssi_floor,
            tx_power: p.tx_power,
            tamper_protection: p.tamper_protection,
            owner_verification: p.owner_verification,
            relay_open_ms: p.relay_open_ms,
            reader_key_seed: hex::encode(&p.reader_key_seed.0),
            certificate: hex::encode(&p.certificate.encode()),
            trust_anchors: p
                .trust_anchors
                .iter()
                .map(|a| wire::Anchor { org: hex::encode(&a.org.0), public_key: hex::encode(&a.public_key) })
                .collect(),
            revocation_epoch: p.revocation_epoch,
            reader_token: p.reader_token.map(|mut t| std::mem::take(&mut t.0)),
        }
    }
}
