//! The messages phone and reader exchange inside the GATT framing.
//!
//! Every message is `version ‖ type ‖ body`, and every type has exactly one length: a length
//! leaks nothing about who is unlocking, and any truncation or extension is refused before any
//! crypto runs.

use crate::{
    Error, PROTOCOL_VERSION, Reason, Result,
    certificate::{READER_CERTIFICATE_LEN, ReaderCertificate},
    codec::Cursor,
    credential::CREDENTIAL_MAX_LEN,
    ids::Nonce,
};

/// Bytes of an X25519 public key.
pub(crate) const EPHEMERAL_LEN: usize = 32;
/// Bytes of an AES-256-GCM tag.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes of the phone's random nonce in a fast request.
pub(crate) const PHONE_NONCE_LEN: usize = 16;
/// Plaintext of the full exchange's authentication: the credential zero-padded to its maximum
/// length (so the number of locks does not show) and the device signature.
pub(crate) const FULL_AUTH_PLAINTEXT_LEN: usize = CREDENTIAL_MAX_LEN + 64;
const HEADER_LEN: usize = 2;

macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $body:expr;)*) => {
        /// The type byte of a message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum MessageType {
            $($(#[$doc])* $name = $code,)*
        }

        impl MessageType {
            /// Every type, in code order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name,)*];

            fn from_code(code: u8) -> Result<Self> {
                match code {
                    $($code => Ok(MessageType::$name),)*
                    other => Err(Error::UnknownMessageType(other)),
                }
            }

            /// The one length (header included) a message of this type has.
            pub const fn encoded_len(self) -> usize {
                HEADER_LEN + match self {
                    $(MessageType::$name => $body,)*
                }
            }
        }
    };
}

message_types! {
    /// Phone → reader, full exchange step 1: the phone's ephemeral X25519 key.
    FullHello = 0x01, EPHEMERAL_LEN;
    /// Reader → phone: the reader's ephemeral key, its certificate and its signature over the
    /// handshake so far.
    ReaderHello = 0x02, EPHEMERAL_LEN + READER_CERTIFICATE_LEN + 64;
    /// Phone → reader, full exchange step 2: the padded credential and the device signature,
    /// encrypted to the reader.
    FullAuth = 0x03, FULL_AUTH_PLAINTEXT_LEN + TAG_LEN;
    /// Reader → phone: the decision, authenticated with the handshake key.
    FullResult = 0x04, 1 + TAG_LEN;
    /// Phone → reader, fast exchange: the advertised nonce, a fresh phone nonce and an
    /// authenticated unlock request under the secret of an earlier full exchange.
    FastRequest = 0x11, Nonce::LEN + PHONE_NONCE_LEN + 1 + TAG_LEN;
    /// Reader → phone: the decision, authenticated under the same secret.
    FastResult = 0x12, 1 + TAG_LEN;
    /// Reader → phone: a refusal in the clear, sent when the reader cannot (yet) authenticate
    /// an answer. A hint only: the phone never treats it as proof of anything.
    Rejected = 0x7F, 1;
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// See [`MessageType::FullHello`].
    FullHello {
        /// Phone's ephemeral X25519 public key.
        phone_ephemeral: [u8; EPHEMERAL_LEN],
    },
    /// See [`MessageType::ReaderHello`].
    ReaderHello {
        /// Reader's ephemeral X25519 public key.
        reader_ephemeral: [u8; EPHEMERAL_LEN],
        /// The organization's certificate for the reader key.
        certificate: ReaderCertificate,
        /// Reader signature over the handshake so far.
        signature: [u8; 64],
    },
    /// See [`MessageType::FullAuth`].
    FullAuth {
        /// AES-256-GCM ciphertext and tag.
        sealed: Vec<u8>,
    },
    /// See [`MessageType::FullResult`].
    FullResult {
        /// AES-256-GCM ciphertext of the reason code, and tag.
        sealed: [u8; 1 + TAG_LEN],
    },
    /// See [`MessageType::FastRequest`].
    FastRequest {
        /// The reader nonce the phone saw advertised.
        reader_nonce: Nonce,
        /// Fresh random bytes from the phone.
        phone_nonce: [u8; PHONE_NONCE_LEN],
        /// AES-256-GCM ciphertext of the requested action, and tag.
        sealed: [u8; 1 + TAG_LEN],
    },
    /// See [`MessageType::FastResult`].
    FastResult {
        /// AES-256-GCM ciphertext of the reason code, and tag.
        sealed: [u8; 1 + TAG_LEN],
    },
    /// See [`MessageType::Rejected`].
    Rejected {
        /// The (unauthenticated) reason.
        reason: Reason,
    },
}

impl Message {
    /// This message's type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::FullHello { .. } => MessageType::FullHello,
            Message::ReaderHello { .. } => MessageType::ReaderHello,
            Message::FullAuth { .. } => MessageType::FullAuth,
            Message::FullResult { .. } => MessageType::FullResult,
            Message::FastRequest { .. } => MessageType::FastRequest,
            Message::FastResult { .. } => MessageType::FastResult,
            Message::Rejected { .. } => MessageType::Rejected,
        }
    }

    /// The header (version ‖ type) of a message of type `kind`: authenticated as associated
    /// data so a ciphertext cannot be replayed under another type.
    pub(crate) fn header(kind: MessageType) -> [u8; HEADER_LEN] {
        [PROTOCOL_VERSION, kind as u8]
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let kind = self.message_type();
        let mut out = Vec::with_capacity(kind.encoded_len());
        out.extend_from_slice(&Self::header(kind));
        match self {
            Message::FullHello { phone_ephemeral } => out.extend_from_slice(phone_ephemeral),
            Message::ReaderHello { reader_ephemeral, certificate, signature } => {
                out.extend_from_slice(reader_ephemeral);
                out.extend_from_slice(&certificate.encode());
                out.extend_from_slice(signature);
            }
            Message::FullAuth { sealed } => out.extend_from_slice(sealed),
            Message::FullResult { sealed } | Message::FastResult { sealed } => out.extend_from_slice(sealed),
            Message::FastRequest { reader_nonce, phone_nonce, sealed } => {
                out.extend_from_slice(&reader_nonce.0);
                out.extend_from_slice(phone_nonce);
                out.extend_from_slice(sealed);
            }
            Message::Rejected { reason } => out.push(*reason as u8),
        }
        if out.len() != kind.encoded_len() {
            return Err(Error::NonCanonical("message body has the wrong length for its type"));
        }
        Ok(out)
    }

    /// Decodes exactly one message. Length is checked against the type before anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut c = Cursor::new("message", bytes);
        c.version(PROTOCOL_VERSION)?;
        let kind = MessageType::from_code(c.u8()?)?;
        match bytes.len().cmp(&kind.encoded_len()) {
            std::cmp::Ordering::Less => {
                return Err(Error::Truncated { what: "message", needed: kind.encoded_len(), got: bytes.len() });
            }
            std::cmp::Ordering::Greater => {
                return Err(Error::TrailingBytes { what: "message", extra: bytes.len() - kind.encoded_len() });
            }
            std::cmp::Ordering::Equal => {}
        }
        let message = match kind {
            MessageType::FullHello => Message::FullHello { phone_ephemeral: c.array()? },
            MessageType::ReaderHello => Message::ReaderHello {
                reader_ephemeral: c.array()?,
                certificate: ReaderCertificate::read(&mut c)?,
                signature: c.array()?,
            },
            MessageType::FullAuth => Message::FullAuth { sealed: c.rest().to_vec() },
            MessageType::FullResult => Message::FullResult { sealed: c.array()? },
            MessageType::FastRequest => {
                Message::FastRequest { reader_nonce: Nonce(c.array()?), phone_nonce: c.array()?, sealed: c.array()? }
            }
            MessageType::FastResult => Message::FastResult { sealed: c.array()? },
            MessageType::Rejected => {
                let code = c.u8()?;
                let reason = Reason::from_code(code).ok_or(Error::NonCanonical("unknown reason code"))?;
                if reason.is_granted() {
                    return Err(Error::NonCanonical("a clear rejection cannot grant"));
                }
                Message::Rejected { reason }
            }
        };
        c.finish()?;
        Ok(message)
    }
}

/// Length of the ReaderHello prefix the reader signs (header, ephemeral key, certificate).
pub(crate) const READER_HELLO_SIGNED_LEN: usize = HEADER_LEN + EPHEMERAL_LEN + READER_CERTIFICATE_LEN;
