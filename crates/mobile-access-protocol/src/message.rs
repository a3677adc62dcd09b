//! The messages phone and reader exchange inside the GATT framing.
//!
//! Every message is `version ‖ type ‖ body`, and every type has exactly one length: a length
//! leaks nothing about who is unlocking, and any truncation or extension is refused before any
//! crypto runs.
//!
//! The phone's first message is the same [`MessageType::Hello`] whether or not it met the reader
//! before: an ephemeral key for a full exchange and a fast-exchange request that is either sealed
//! under an earlier exchange's secret or random bytes of the same length. Nobody but the genuine
//! reader holding that secret can tell the two apart.

use crate::{
    Error, PROTOCOL_VERSION, Reason, Result,
    certificate::{READER_CERTIFICATE_LEN, ReaderCertificate},
    codec::Cursor,
    credential::CREDENTIAL_MAX_LEN,
    ids::{Nonce, Timestamp},
};

/// Bytes of an X25519 public key.
pub(crate) const EPHEMERAL_LEN: usize = 32;
/// Bytes of an AES-256-GCM tag.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes of the phone's random nonce in a hello.
pub(crate) const PHONE_NONCE_LEN: usize = 16;
/// Sealed fast-exchange request in a hello: the action byte and its tag.
pub(crate) const FAST_SEALED_LEN: usize = 1 + TAG_LEN;
/// Plaintext of an authenticated answer: the reason code and the sequence of the newest
/// revocation list the reader holds (so the phone hands over a newer one only when needed).
pub(crate) const RESULT_PLAINTEXT_LEN: usize = 1 + 4;
/// What a reader hello says of the reader's revocation state: its list sequence and its clock
/// (the phone hands over its list before the FullAuth when either is behind).
pub(crate) const LIST_STATE_LEN: usize = 4 + 4;
/// A sealed answer.
pub(crate) const RESULT_SEALED_LEN: usize = RESULT_PLAINTEXT_LEN + TAG_LEN;
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
    /// Phone → reader, always first: the phone's ephemeral X25519 key, the advertised nonce, a
    /// fresh phone nonce and a fast-exchange request (sealed under an earlier exchange's secret,
    /// or random bytes of the same length when the phone has none for this reader).
    Hello = 0x01, EPHEMERAL_LEN + Nonce::LEN + PHONE_NONCE_LEN + FAST_SEALED_LEN;
    /// Reader → phone: the reader's ephemeral key, its certificate and its signature over the
    /// handshake so far.
    ReaderHello = 0x02, EPHEMERAL_LEN + LIST_STATE_LEN + READER_CERTIFICATE_LEN + 64;
    /// Phone → reader, full exchange step 2: the padded credential and the device signature,
    /// encrypted to the reader.
    FullAuth = 0x03, FULL_AUTH_PLAINTEXT_LEN + TAG_LEN;
    /// Reader → phone: the decision and the reader's revocation sequence, authenticated with
    /// the handshake key.
    FullResult = 0x04, RESULT_SEALED_LEN;
    /// Reader → phone, answering a hello whose fast request it opened: the decision and its
    /// revocation sequence, authenticated under the fast exchange's key.
    FastResult = 0x12, RESULT_SEALED_LEN;
    /// Reader → phone: a refusal in the clear, sent when the reader cannot (yet) authenticate
    /// an answer. A hint only: the phone never treats it as proof of anything.
    Rejected = 0x7F, 1;
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// See [`MessageType::Hello`].
    Hello {
        /// Phone's ephemeral X25519 public key.
        phone_ephemeral: [u8; EPHEMERAL_LEN],
        /// The reader nonce the phone saw advertised.
        reader_nonce: Nonce,
        /// Fresh random bytes from the phone.
        phone_nonce: [u8; PHONE_NONCE_LEN],
        /// The sealed fast request, or random bytes.
        fast: [u8; FAST_SEALED_LEN],
    },
    /// See [`MessageType::ReaderHello`].
    ReaderHello {
        /// Reader's ephemeral X25519 public key.
        reader_ephemeral: [u8; EPHEMERAL_LEN],
        /// The sequence of the newest revocation list the reader holds (0: none).
        list_sequence: u32,
        /// The reader's clock.
        reader_time: Timestamp,
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
        /// AES-256-GCM ciphertext of the reason code and revocation sequence, and tag.
        sealed: [u8; RESULT_SEALED_LEN],
    },
    /// See [`MessageType::FastResult`].
    FastResult {
        /// AES-256-GCM ciphertext of the reason code and revocation sequence, and tag.
        sealed: [u8; RESULT_SEALED_LEN],
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
            Message::Hello { .. } => MessageType::Hello,
            Message::ReaderHello { .. } => MessageType::ReaderHello,
            Message::FullAuth { .. } => MessageType::FullAuth,
            Message::FullResult { .. } => MessageType::FullResult,
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
            Message::Hello { phone_ephemeral, reader_nonce, phone_nonce, fast } => {
                out.extend_from_slice(phone_ephemeral);
                out.extend_from_slice(&reader_nonce.0);
                out.extend_from_slice(phone_nonce);
                out.extend_from_slice(fast);
            }
            Message::ReaderHello { reader_ephemeral, list_sequence, reader_time, certificate, signature } => {
                out.extend_from_slice(reader_ephemeral);
                out.extend_from_slice(&list_sequence.to_be_bytes());
                out.extend_from_slice(&reader_time.0.to_be_bytes());
                out.extend_from_slice(&certificate.encode());
                out.extend_from_slice(signature);
            }
            Message::FullAuth { sealed } => out.extend_from_slice(sealed),
            Message::FullResult { sealed } | Message::FastResult { sealed } => out.extend_from_slice(sealed),
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
            MessageType::Hello => Message::Hello {
                phone_ephemeral: c.array()?,
                reader_nonce: Nonce(c.array()?),
                phone_nonce: c.array()?,
                fast: c.array()?,
            },
            MessageType::ReaderHello => Message::ReaderHello {
                reader_ephemeral: c.array()?,
                list_sequence: c.u32()?,
                reader_time: Timestamp(c.u32()?),
                certificate: ReaderCertificate::read(&mut c)?,
                signature: c.array()?,
            },
            MessageType::FullAuth => Message::FullAuth { sealed: c.rest().to_vec() },
            MessageType::FullResult => Message::FullResult { sealed: c.array()? },
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

/// The hello's fields before its sealed fast request: what that request authenticates.
pub(crate) const HELLO_CLEAR_LEN: usize = HEADER_LEN + EPHEMERAL_LEN + Nonce::LEN + PHONE_NONCE_LEN;

/// Length of the ReaderHello prefix the reader signs (header, ephemeral key, certificate).
pub(crate) const READER_HELLO_SIGNED_LEN: usize = HEADER_LEN + EPHEMERAL_LEN + LIST_STATE_LEN + READER_CERTIFICATE_LEN;
