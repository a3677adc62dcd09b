//! Fixed-size identifiers and the protocol's notion of time.

use ring::rand::SecureRandom;

use crate::{Error, Result};

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        byte_id!(@common $(#[$doc])* $name, $len);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
    (redacted $(#[$doc:meta])* $name:ident, $len:literal) => {
        byte_id!(@common $(#[$doc])* $name, $len);

        /// Redacted: who a member is never lands in a debug print or a log line by accident
        /// (`Display` still gives the hex, for the places that must name the member).
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
    (@common $(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length on the wire.
            pub const LEN: usize = $len;

            /// A fresh random value.
            pub fn random(rng: &dyn SecureRandom) -> Result<Self> {
                let mut bytes = [0u8; $len];
                rng.fill(&mut bytes).map_err(|_| Error::Crypto("random generator failed"))?;
                Ok(Self(bytes))
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    };
}

byte_id!(
    /// Random identifier of one credential; what revocation lists and audit logs name.
    CredentialId, 16
);
byte_id!(
    /// The organization (the coworking operator's tenant in the access cloud).
    OrgId, 8
);
byte_id!(
    redacted
    /// The member a credential was issued to. Never sent in the clear.
    MemberId, 16
);
byte_id!(
    /// A reader (the BLE peripheral on a door); public, it is in every advertisement.
    ReaderId, 8
);
byte_id!(
    /// Short fingerprint of an organization signing key: the first 4 bytes of its SHA-256.
    KeyId, 4
);
byte_id!(
    /// A reader's rotating freshness nonce, advertised and echoed in fast requests.
    Nonce, 8
);

/// The two times a reader works with: its wall clock (validity windows, which may drift, be
/// set, or be moved by signed time) and a monotonic reading (nonce rotation, which must never
/// stall because someone set the wall clock back). The monotonic reading is any duration that
/// only grows between calls to one responder, e.g. the time since the reader started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReaderTime {
    /// The wall clock.
    pub wall: Timestamp,
    /// The monotonic reading.
    pub monotonic: std::time::Duration,
}

/// A wall time alone, for callers without a separate monotonic clock (tests, tools): the
/// monotonic reading is taken from it, so it is monotonic only if they never set it back.
impl From<Timestamp> for ReaderTime {
    fn from(wall: Timestamp) -> Self {
        Self { wall, monotonic: std::time::Duration::from_secs(u64::from(wall.0)) }
    }
}

/// A lock (door) within an organization. Credentials list the locks they open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockId(pub u32);

/// Seconds since the Unix epoch, as a `u32` (good until 2106). The protocol never reads a
/// clock: callers pass the time, so readers with drifting clocks and simulations on a virtual
/// clock behave exactly like the real thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub u32);

impl Timestamp {
    /// This time plus `secs`, saturating at the end of the representable range.
    pub fn plus(self, secs: u32) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// Seconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> u32 {
        self.0.saturating_sub(earlier.0)
    }
}
