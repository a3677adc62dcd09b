//! The crate's one error type, and the reason codes a reader gives for its decisions.

/// Why something the protocol was handed could not be used. Every decoder and every step of the
/// exchange returns this instead of panicking; nothing is consumed on error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the layout needs.
    #[error("{what} truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// Bytes the layout needs.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// Bytes left over after a complete value: an extension is never silently ignored.
    #[error("{what} has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// Number of bytes left over.
        extra: usize,
    },
    /// A version this build does not speak.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// What carried the version.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// A message type byte that is not defined.
    #[error("unknown message type 0x{0:02x}")]
    UnknownMessageType(u8),
    /// Well-formed bytes that are not the one canonical encoding of a value.
    #[error("non-canonical encoding: {0}")]
    NonCanonical(&'static str),
    /// A hard size limit was exceeded.
    #[error("{what} too large: {got} > {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Size found.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A GATT fragment arrived out of sequence.
    #[error("fragment out of sequence: expected #{expected}, got #{got}")]
    FragmentSequence {
        /// The sequence number expected next.
        expected: u8,
        /// The sequence number received.
        got: u8,
    },
    /// An ATT MTU outside 23..=517.
    #[error("ATT MTU {0} outside 23..=517")]
    InvalidMtu(u16),
    /// A signature did not verify.
    #[error("invalid signature on {0}")]
    BadSignature(&'static str),
    /// The reader could not prove it is a genuine reader of the organization: the phone stops
    /// before revealing anything about the member.
    #[error("reader is not a genuine reader of this organization: {0}")]
    ReaderNotGenuine(&'static str),
    /// A reader answer failed authentication: it was forged, replayed or damaged.
    #[error("reader answer is not authentic")]
    AnswerNotAuthentic,
    /// A sealed message (a revocation list handed over after an exchange) failed authentication:
    /// sent on another connection, forged or damaged.
    #[error("{0} is not authentic")]
    NotAuthentic(&'static str),
    /// The reader refused in the clear, before it could prove itself. The reason is a hint only.
    #[error("reader refused without proof: {0}")]
    UnverifiedRejection(Reason),
    /// A message arrived that does not fit the exchange's current step.
    #[error("unexpected {0} message at this step")]
    UnexpectedMessage(&'static str),
    /// The credential presented belongs to another organization than the reader's certificate.
    #[error("credential is not for this reader's organization")]
    CredentialOrganizationMismatch,
    /// A fast-exchange secret used with another credential or reader than it was made with.
    #[error("fast-exchange secret was established for another credential or reader")]
    FastSecretMismatch,
    /// Key bytes that are not a valid key.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The platform random generator or a crypto primitive failed.
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
    /// The device signer (secure hardware or software key) could not sign.
    #[error("device signer failed: {0}")]
    Signer(String),
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $text:literal;)*) => {
        /// A reader's decision. The code is stable on the wire so the phone can show it and the
        /// audit log can record it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Reason {
            $($(#[$doc])* $name = $code,)*
        }

        impl Reason {
            /// Every reason, in code order.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];

            /// Decodes a wire code.
            pub fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some(Reason::$name),)*
                    _ => None,
                }
            }

            /// A short human hint the app can show.
            pub fn hint(self) -> &'static str {
                match self {
                    $(Reason::$name => $text,)*
                }
            }
        }
    };
}

reasons! {
    /// The door opens.
    Granted = 0x00, "unlocked";
    /// The credential does not include this reader's lock.
    WrongLock = 0x01, "this key does not open this door";
    /// The credential's validity window has not started.
    NotYetValid = 0x02, "this key is not valid yet";
    /// The credential's validity window has ended.
    Expired = 0x03, "this key has expired";
    /// The credential's revocation epoch is older than the reader's.
    Revoked = 0x04, "this key was revoked";
    /// The credential was signed by a key the reader does not trust for its organization.
    WrongOrganizationKey = 0x05, "this key is from another organization";
    /// The credential's signature does not verify: it was forged or altered.
    BadCredentialSignature = 0x06, "this key is not genuine";
    /// The phone could not prove possession of the device key the credential is bound to.
    DeviceProofFailed = 0x07, "this key belongs to another device";
    /// The message could not be decoded or decrypted.
    Malformed = 0x08, "the reader could not read the request";
    /// Fast exchange: the reader holds no secret for this phone; run a full exchange.
    UnknownSession = 0x09, "reader needs a full exchange";
    /// The request was bound to a reader nonce that is no longer accepted.
    StaleNonce = 0x0A, "request too old; try again";
    /// The request was already answered once.
    Replay = 0x0B, "request was replayed";
    /// A message arrived that does not fit the exchange's current step.
    UnexpectedMessage = 0x0C, "unexpected message";
    /// The reader's tamper switch tripped while tamper protection is on.
    Tampered = 0x0D, "reader was tampered with";
    /// A tap-mode reader saw the phone too far away.
    NotCloseEnough = 0x0E, "hold the phone closer to the reader";
    /// The reader failed internally.
    ReaderError = 0x0F, "reader error";
    /// A wallet pass an administrator suspended (reversible).
    PassSuspended = 0x10, "this pass was suspended";
    /// A wallet pass an administrator deleted.
    PassDeleted = 0x11, "this pass was deleted";
    /// A wallet pass replaced by the same pass added on another iPhone.
    PassSuperseded = 0x12, "this pass was added on another iPhone";
    /// A wallet pass presented to a reader that does not take passes (not a Reader Pro 2.1, or
    /// its tamper protection is off).
    PassNotAccepted = 0x13, "this reader does not accept wallet passes";
    /// The door requires owner verification and the phone did not prove it: unlock the phone or
    /// verify with biometrics or passcode, then tap again.
    OwnerNotVerified = 0x14, "verify it's you, then tap again";
}

impl Reason {
    /// True only for [`Reason::Granted`].
    pub fn is_granted(self) -> bool {
        self == Reason::Granted
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.hint())
    }
}
