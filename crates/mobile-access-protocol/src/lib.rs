//! The mobile-access protocol: the digital key a member carries, the advertisement a reader
//! broadcasts, the bytes phone and reader exchange over Bluetooth LE, and how those bytes are cut
//! into ATT packets.
//!
//! This crate is deliberately pure: no I/O, no async, no clock reads. Time is always a parameter
//! ([`Timestamp`]) and randomness is always a `ring::rand::SecureRandom` passed in, so the reader
//! firmware, the SDK, the cloud and the simulator all run exactly the same code and tests can
//! drive every state.
//!
//! The exchange is two-tier, after CSA Aliro, behind one first message ([`phone::Exchange`]): a
//! full exchange on first meeting a reader (ephemeral X25519 on both sides, the reader signs
//! first, then the phone proves possession of its P-256 device key) that leaves a per-phone,
//! per-reader secret behind, and a fast exchange on later taps: one round trip, symmetric crypto
//! only. The phone's hello looks the same either way. See `docs/protocol.md` for byte layouts
//! and the threat model.

mod advertisement;
mod certificate;
mod codec;
mod credential;
mod delivery;
mod error;
pub mod framing;
mod ids;
mod keys;
mod message;
pub mod phone;
pub mod reader;
mod revocation;
mod schedule;

pub use advertisement::{ADVERTISEMENT_AD_LEN, ADVERTISEMENT_PAYLOAD_LEN, Advertisement, UnlockMode};
pub use certificate::{READER_CERTIFICATE_LEN, ReaderCertificate};
pub use credential::{CREDENTIAL_MAX_LEN, CREDENTIAL_MIN_LEN, Credential, CredentialBody, MAX_LOCKS, Validity};
#[doc(hidden)]
pub use delivery::unpad as unpad_list_delivery;
pub use delivery::{LIST_DELIVERY_MAX_LEN, LIST_DELIVERY_TYPE, is_list_delivery};
pub use error::{Error, Reason};
pub use ids::{CredentialId, KeyId, LockId, MemberId, Nonce, OrgId, ReaderId, ReaderTime, Timestamp};
pub use keys::{
    DEVICE_PUBLIC_KEY_LEN, DevicePublicKey, DeviceSigner, OrganizationKey, OrganizationPublicKey, ReaderKey,
    SoftwareDeviceKey,
};
pub use message::{Message, MessageType};
pub use revocation::{
    MAX_REVOKED, REVOCATION_LIST_MAX_LEN, REVOCATION_LIST_MIN_LEN, REVOCATION_LIST_TYPE, RevocationList,
    SignedRevocationList, revocation_list_len,
};

/// Protocol version carried in every credential, certificate, advertisement and message.
pub const PROTOCOL_VERSION: u8 = 1;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// 16-bit service UUID the reader advertises and phones filter their scan on.
///
/// Placeholder from the SIG "member UUID" range until the operator's own assignment is registered.
pub const SERVICE_UUID16: u16 = 0xFE4A;

/// The GATT service, as a 128-bit UUID: [`SERVICE_UUID16`] on the Bluetooth base UUID.
pub const SERVICE_UUID: u128 = 0x0000_0000_0000_1000_8000_0080_5F9B_34FB | ((SERVICE_UUID16 as u128) << 96);

/// The characteristic the phone writes requests to (write with response, so the phone knows
/// each fragment arrived), fragmented by [`framing`].
pub const REQUEST_CHARACTERISTIC_UUID: u128 = 0x6d61_0001_2d61_6363_6573_732d_7631_0000;

/// The characteristic the reader notifies replies on, fragmented by [`framing`].
pub const RESPONSE_CHARACTERISTIC_UUID: u128 = 0x6d61_0002_2d61_6363_6573_732d_7631_0000;
