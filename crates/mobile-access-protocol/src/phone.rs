//! The phone's side of the unlock exchange, as state machines that consume themselves: a step
//! can only run once, in order, and an error leaves nothing half-done behind.
//!
//! The phone reports "unlocked" only from an answer it authenticated with keys that only the
//! genuine reader (full exchange) or the reader it earlier proved genuine (fast exchange) can
//! hold. A clear [`Message::Rejected`] surfaces as [`Error::UnverifiedRejection`].

use ring::{agreement::EphemeralPrivateKey, rand::SecureRandom};

use crate::{
    Error, Reason, Result,
    advertisement::Advertisement,
    credential::{CREDENTIAL_MAX_LEN, Credential},
    ids::{CredentialId, ReaderId},
    keys::{DeviceSigner, OrganizationPublicKey},
    message::{FULL_AUTH_PLAINTEXT_LEN, Message, MessageType, PHONE_NONCE_LEN, READER_HELLO_SIGNED_LEN},
    schedule::{self, FastKeys, HandshakeKeys, Secret},
};

/// The unlock action a fast request asks for (the only one v1 defines).
pub(crate) const ACTION_UNLOCK: u8 = 0x01;

/// What a full exchange leaves behind on the phone for one reader: the persistent secret the
/// next taps at that reader use. Secret: keep it in the platform's secure storage.
#[derive(Clone, PartialEq, Eq)]
pub struct FastSecret {
    /// The reader it was established with.
    pub reader: ReaderId,
    /// The credential presented when it was established; a renewed credential needs a new full
    /// exchange so the reader sees (and checks) the new one.
    pub credential: CredentialId,
    secret: Secret,
}

impl Drop for FastSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl std::fmt::Debug for FastSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastSecret")
            .field("reader", &self.reader)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl FastSecret {
    /// Length of [`FastSecret::to_bytes`].
    pub const LEN: usize = ReaderId::LEN + CredentialId::LEN + 32;

    /// Serialization for the SDK's secure key store. Secret: never log it.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        for (slot, byte) in out.iter_mut().zip(self.reader.0.iter().chain(&self.credential.0).chain(&self.secret)) {
            *slot = *byte;
        }
        out
    }

    /// Reads what [`FastSecret::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut c = crate::codec::Cursor::new("fast secret", bytes);
        let secret = Self { reader: ReaderId(c.array()?), credential: CredentialId(c.array()?), secret: c.array()? };
        c.finish()?;
        Ok(secret)
    }
}

/// A verified full-exchange answer.
#[derive(Debug)]
pub struct FullOutcome {
    /// The reader's decision, proven to come from the reader.
    pub reason: Reason,
    /// On [`Reason::Granted`], the secret for fast exchanges at this reader.
    pub fast_secret: Option<FastSecret>,
}

/// Full exchange, step 1: the phone has sent its hello and waits for the reader's.
pub struct FullExchange {
    expected_reader: ReaderId,
    private: EphemeralPrivateKey,
    hello: Vec<u8>,
}

impl std::fmt::Debug for FullExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullExchange").field("expected_reader", &self.expected_reader).finish_non_exhaustive()
    }
}

impl FullExchange {
    /// Starts a full exchange with the reader that advertised as `expected_reader`. Returns the
    /// state and the FullHello to send. The hello carries only a fresh ephemeral key.
    pub fn start(expected_reader: ReaderId, rng: &dyn SecureRandom) -> Result<(Self, Vec<u8>)> {
        let (private, phone_ephemeral) = schedule::ephemeral(rng)?;
        let hello = Message::FullHello { phone_ephemeral }.encode()?;
        Ok((Self { expected_reader, private, hello: hello.clone() }, hello))
    }

    /// Checks the reader's hello against `trust` (the organization keys that came with the
    /// credential) and, only if the reader proved itself, returns the encrypted FullAuth.
    pub fn on_reader_hello(
        self,
        bytes: &[u8],
        trust: &[OrganizationPublicKey],
        credential: &Credential,
        signer: &dyn DeviceSigner,
    ) -> Result<(FullAwaitingResult, Vec<u8>)> {
        let (reader_ephemeral, certificate, signature) = match Message::decode(bytes)? {
            Message::ReaderHello { reader_ephemeral, certificate, signature } => {
                (reader_ephemeral, certificate, signature)
            }
            Message::Rejected { reason } => return Err(Error::UnverifiedRejection(reason)),
            _ => return Err(Error::UnexpectedMessage("non-ReaderHello")),
        };
        let anchor = trust
            .iter()
            .find(|anchor| anchor.org == certificate.org && anchor.key_id == certificate.org_key)
            .ok_or(Error::ReaderNotGenuine("certificate signed by an unknown organization key"))?;
        if !certificate.verify(anchor) {
            return Err(Error::ReaderNotGenuine("certificate signature invalid"));
        }
        if certificate.reader != self.expected_reader {
            return Err(Error::ReaderNotGenuine("certificate names another reader than the one advertised"));
        }
        let signed = bytes.get(..READER_HELLO_SIGNED_LEN).unwrap_or_default();
        let input = schedule::reader_hello_signing_input(&self.hello, signed);
        if !crate::keys::verify_ed25519(&certificate.reader_key, &input, &signature) {
            return Err(Error::ReaderNotGenuine("handshake signature invalid"));
        }
        if credential.body().org != certificate.org {
            return Err(Error::CredentialOrganizationMismatch);
        }
        let keys = HandshakeKeys::derive(self.private, &reader_ephemeral, &self.hello, bytes)?;
        let device_signature = signer.sign(&keys.device_signing_input(credential.encoded()))?;
        let mut plaintext = Vec::with_capacity(FULL_AUTH_PLAINTEXT_LEN);
        plaintext.extend_from_slice(credential.encoded());
        plaintext.resize(CREDENTIAL_MAX_LEN, 0);
        plaintext.extend_from_slice(&device_signature);
        let header = Message::header(MessageType::FullAuth);
        let sealed = schedule::seal(&keys.phone_to_reader, &header, &plaintext)?;
        let auth = Message::FullAuth { sealed }.encode()?;
        let next = FullAwaitingResult {
            reader: certificate.reader,
            credential: credential.body().id,
            reader_to_phone: keys.reader_to_phone,
            persistent: keys.persistent,
        };
        Ok((next, auth))
    }
}

/// Full exchange, step 2: FullAuth sent, waiting for the reader's decision.
pub struct FullAwaitingResult {
    reader: ReaderId,
    credential: CredentialId,
    reader_to_phone: Secret,
    persistent: Secret,
}

impl std::fmt::Debug for FullAwaitingResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullAwaitingResult").field("reader", &self.reader).finish_non_exhaustive()
    }
}

impl FullAwaitingResult {
    /// Authenticates the reader's FullResult.
    pub fn on_result(self, bytes: &[u8]) -> Result<FullOutcome> {
        let sealed = match Message::decode(bytes)? {
            Message::FullResult { sealed } => sealed,
            Message::Rejected { reason } => return Err(Error::UnverifiedRejection(reason)),
            _ => return Err(Error::UnexpectedMessage("non-FullResult")),
        };
        let reason = open_reason(&self.reader_to_phone, MessageType::FullResult, &sealed)?;
        let fast_secret = reason.is_granted().then_some(FastSecret {
            reader: self.reader,
            credential: self.credential,
            secret: self.persistent,
        });
        Ok(FullOutcome { reason, fast_secret })
    }
}

fn open_reason(key: &Secret, kind: MessageType, sealed: &[u8]) -> Result<Reason> {
    let plain = schedule::open(key, &Message::header(kind), sealed).ok_or(Error::AnswerNotAuthentic)?;
    match plain.as_slice() {
        [code] => Reason::from_code(*code).ok_or(Error::AnswerNotAuthentic),
        _ => Err(Error::AnswerNotAuthentic),
    }
}

/// A fast exchange in flight: one request sent, waiting for the one answer.
pub struct FastExchange {
    response: Secret,
}

impl std::fmt::Debug for FastExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastExchange").finish_non_exhaustive()
    }
}

impl FastExchange {
    /// Builds the FastRequest for `advertisement` (the reader's latest, for its nonce).
    ///
    /// Fails with [`Error::FastSecretMismatch`] if the secret was made with another reader or
    /// another credential than `credential`: then run a [`FullExchange`].
    pub fn start(
        secret: &FastSecret,
        credential: &Credential,
        advertisement: &Advertisement,
        rng: &dyn SecureRandom,
    ) -> Result<(Self, Vec<u8>)> {
        if secret.reader != advertisement.reader || secret.credential != credential.body().id {
            return Err(Error::FastSecretMismatch);
        }
        let mut phone_nonce = [0u8; PHONE_NONCE_LEN];
        rng.fill(&mut phone_nonce).map_err(|_| Error::Crypto("random generator failed"))?;
        let keys = FastKeys::derive(&secret.secret, advertisement.reader, advertisement.nonce, &phone_nonce)?;
        let aad = fast_request_aad(advertisement.nonce, &phone_nonce);
        let sealed = schedule::seal_array(&keys.request, &aad, &[ACTION_UNLOCK])?;
        let request = Message::FastRequest { reader_nonce: advertisement.nonce, phone_nonce, sealed }.encode()?;
        Ok((Self { response: keys.response }, request))
    }

    /// Authenticates the reader's answer.
    pub fn on_result(self, bytes: &[u8]) -> Result<Reason> {
        match Message::decode(bytes)? {
            Message::FastResult { sealed } => open_reason(&self.response, MessageType::FastResult, &sealed),
            Message::Rejected { reason } => Err(Error::UnverifiedRejection(reason)),
            _ => Err(Error::UnexpectedMessage("non-FastResult")),
        }
    }
}

/// Associated data of a fast request: its header and its clear fields.
pub(crate) fn fast_request_aad(reader_nonce: crate::ids::Nonce, phone_nonce: &[u8; PHONE_NONCE_LEN]) -> Vec<u8> {
    [&Message::header(MessageType::FastRequest)[..], &reader_nonce.0, phone_nonce].concat()
}

/// Seals a reader decision for `kind` (used by the reader; here so both sides share one
/// definition of the answer's associated data).
pub(crate) fn seal_reason(key: &Secret, kind: MessageType, reason: Reason) -> Result<[u8; 17]> {
    schedule::seal_array(key, &Message::header(kind), &[reason as u8])
}
