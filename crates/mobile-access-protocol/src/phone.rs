//! The phone's side of the unlock exchange, as state machines that consume themselves: a step
//! can only run once, in order, and an error leaves nothing half-done behind.
//!
//! Every exchange starts with the same [`Exchange`] hello. The reader answers a fast request it
//! can open with a FastResult (one round trip) and anything else with its own hello, which starts
//! the full exchange on the same connection (two round trips). The phone reports "unlocked" only
//! from an answer it authenticated with keys that only the genuine reader (full exchange) or the
//! reader it earlier proved genuine (fast exchange) can hold. A clear [`Message::Rejected`]
//! surfaces as [`Error::UnverifiedRejection`], and nothing unauthenticated makes the phone drop
//! its fast secret: only a full exchange's authenticated grant replaces it.

use ring::{agreement::EphemeralPrivateKey, rand::SecureRandom};

use crate::{
    Error, Reason, Result,
    credential::{CREDENTIAL_MAX_LEN, Credential},
    delivery,
    ids::{CredentialId, Nonce, ReaderId, Timestamp},
    keys::{DeviceSigner, OrganizationPublicKey},
    message::{
        FAST_SEALED_LEN, FULL_AUTH_PLAINTEXT_LEN, HELLO_CLEAR_LEN, Message, MessageType, PHONE_NONCE_LEN,
        READER_HELLO_SIGNED_LEN, RESULT_PLAINTEXT_LEN, RESULT_SEALED_LEN,
    },
    reader::ExchangeKind,
    revocation::SignedRevocationList,
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

/// A verified answer from the reader, from either exchange.
#[derive(Debug)]
pub struct Outcome {
    /// The reader's decision, proven to come from the reader.
    pub reason: Reason,
    /// Which exchange the reader answered.
    pub kind: ExchangeKind,
    /// After a full exchange that granted, the secret for fast exchanges at this reader.
    pub fast_secret: Option<FastSecret>,
    /// The sequence of the newest revocation list the reader holds (0: none), authenticated.
    pub reader_list_sequence: u32,
    /// After a fast answer, the key for handing over a newer list (a full exchange hands it
    /// over before its FullAuth instead: [`FullAwaitingResult::list_delivery`]).
    list_key: Option<zeroize::Zeroizing<Secret>>,
}

impl Outcome {
    /// After a fast answer: the sealed revocation list to hand over now, if `list` is newer
    /// than the reader's (the reader proved itself with this answer, so nothing reaches anyone
    /// else). One-way: the reader never answers it. `None` when the reader is up to date, and
    /// after a full exchange (which hands it over before its credential).
    pub fn list_delivery(&self, list: &SignedRevocationList) -> Result<Option<Vec<u8>>> {
        match &self.list_key {
            Some(key) if list.list().sequence > self.reader_list_sequence => delivery::seal(key, list).map(Some),
            _ => Ok(None),
        }
    }
}

/// What the phone does after the reader's first answer.
#[derive(Debug)]
pub enum Step {
    /// The reader answered the fast request: the exchange is over.
    Done(Outcome),
    /// The reader proved itself and wants the credential: send the FullAuth and wait.
    Authenticate(FullAwaitingResult, Vec<u8>),
}

/// The fast request a hello carried, and how to read its answer.
struct FastPending {
    keys: FastKeys,
}

/// An exchange in flight after the phone's hello: the same first message whether or not the
/// phone met this reader before (see [`Exchange::start`]).
pub struct Exchange {
    expected_reader: ReaderId,
    private: EphemeralPrivateKey,
    hello: Vec<u8>,
    fast: Option<FastPending>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange").field("expected_reader", &self.expected_reader).finish_non_exhaustive()
    }
}

impl Exchange {
    /// Starts an exchange with the reader that advertised `reader` and `nonce`. Returns the
    /// state and the Hello to send: a fresh ephemeral key, the advertised nonce, a fresh phone
    /// nonce and, with `fast` (the secret of an earlier full exchange with this reader and the
    /// credential it was made with), an unlock request sealed under it; without, random bytes
    /// of the same length. Nothing in the hello tells an observer or a fake reader which it is.
    ///
    /// Fails with [`Error::FastSecretMismatch`] if the secret was made with another reader or
    /// another credential: start without it (a full exchange).
    pub fn start(
        reader: ReaderId,
        nonce: Nonce,
        fast: Option<(&FastSecret, &Credential)>,
        rng: &dyn SecureRandom,
    ) -> Result<(Self, Vec<u8>)> {
        let (private, phone_ephemeral) = schedule::ephemeral(rng)?;
        let mut phone_nonce = [0u8; PHONE_NONCE_LEN];
        rng.fill(&mut phone_nonce).map_err(|_| Error::Crypto("random generator failed"))?;
        let clear = Message::Hello { phone_ephemeral, reader_nonce: nonce, phone_nonce, fast: [0; FAST_SEALED_LEN] };
        let clear = clear.encode()?;
        let clear = clear.get(..HELLO_CLEAR_LEN).unwrap_or_default();
        let (sealed, pending) = match fast {
            Some((secret, credential)) => {
                if secret.reader != reader || secret.credential != credential.body().id {
                    return Err(Error::FastSecretMismatch);
                }
                let keys = FastKeys::derive(&secret.secret, reader, nonce, &phone_nonce)?;
                let sealed = schedule::seal_array(&keys.request, clear, &[ACTION_UNLOCK])?;
                (sealed, Some(FastPending { keys }))
            }
            None => {
                let mut random = [0u8; FAST_SEALED_LEN];
                rng.fill(&mut random).map_err(|_| Error::Crypto("random generator failed"))?;
                (random, None)
            }
        };
        let hello = Message::Hello { phone_ephemeral, reader_nonce: nonce, phone_nonce, fast: sealed }.encode()?;
        Ok((Self { expected_reader: reader, private, hello: hello.clone(), fast: pending }, hello))
    }

    /// Reads the reader's first answer: a FastResult (authenticated under the fast secret the
    /// hello used) ends the exchange; a ReaderHello is checked against `trust` (the organization
    /// keys that came with the credential) and, only if the reader proved itself, gives the
    /// encrypted FullAuth to send. A clear refusal is [`Error::UnverifiedRejection`]: a hint.
    pub fn on_reply(
        self,
        bytes: &[u8],
        trust: &[OrganizationPublicKey],
        credential: &Credential,
        signer: &dyn DeviceSigner,
    ) -> Result<Step> {
        let (reader_ephemeral, list_sequence, reader_time, certificate, signature) = match Message::decode(bytes)? {
            Message::ReaderHello { reader_ephemeral, list_sequence, reader_time, certificate, signature } => {
                (reader_ephemeral, list_sequence, reader_time, certificate, signature)
            }
            Message::FastResult { sealed } => {
                let Some(FastPending { keys }) = self.fast else {
                    return Err(Error::UnexpectedMessage("FastResult without a fast request"));
                };
                let (reason, sequence) = open_result(&keys.response, MessageType::FastResult, &sealed)?;
                return Ok(Step::Done(Outcome {
                    reason,
                    kind: ExchangeKind::Fast,
                    fast_secret: None,
                    reader_list_sequence: sequence,
                    list_key: Some(zeroize::Zeroizing::new(keys.list)),
                }));
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
            list: keys.list,
            reader_list_sequence: list_sequence,
            reader_time,
        };
        Ok(Step::Authenticate(next, auth))
    }
}

impl Exchange {
    /// [`Exchange::on_reply`] where only a full exchange can follow (a hello sent without a fast
    /// request, as a wallet pass always does): the FullAuth to send, or why not.
    pub fn on_reader_hello(
        self,
        bytes: &[u8],
        trust: &[OrganizationPublicKey],
        credential: &Credential,
        signer: &dyn DeviceSigner,
    ) -> Result<(FullAwaitingResult, Vec<u8>)> {
        match self.on_reply(bytes, trust, credential, signer)? {
            Step::Authenticate(awaiting, auth) => Ok((awaiting, auth)),
            Step::Done(_) => Err(Error::UnexpectedMessage("FastResult to a full exchange")),
        }
    }
}

/// Full exchange, step 2: FullAuth sent, waiting for the reader's decision.
pub struct FullAwaitingResult {
    reader: ReaderId,
    credential: CredentialId,
    reader_to_phone: Secret,
    persistent: Secret,
    list: Secret,
    reader_list_sequence: u32,
    reader_time: Timestamp,
}

/// How far a list's signed time may be ahead of a reader's clock before the phone hands the list
/// over to correct it, even when the reader holds the same sequence.
pub const CLOCK_HINT_SLACK_SECS: u32 = 60;

impl Drop for FullAwaitingResult {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.reader_to_phone);
        zeroize::Zeroize::zeroize(&mut self.persistent);
        zeroize::Zeroize::zeroize(&mut self.list);
    }
}

impl std::fmt::Debug for FullAwaitingResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullAwaitingResult").field("reader", &self.reader).finish_non_exhaustive()
    }
}

impl FullAwaitingResult {
    /// The sealed revocation list to send just before the FullAuth, if the reader's signed hello
    /// says it holds an older list or its clock is behind the list's signed time: applied before
    /// the credential is judged, so a lagging reader clock is corrected first. `None` when the
    /// reader is up to date. The reader proved itself with that hello; only it can open this.
    pub fn list_delivery(&self, list: &SignedRevocationList) -> Result<Option<Vec<u8>>> {
        let body = list.list();
        let clock_behind = body.issued_at.0 > self.reader_time.0.saturating_add(CLOCK_HINT_SLACK_SECS);
        if body.sequence > self.reader_list_sequence || clock_behind {
            delivery::seal(&self.list, list).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Authenticates the reader's FullResult.
    pub fn on_result(self, bytes: &[u8]) -> Result<Outcome> {
        let sealed = match Message::decode(bytes)? {
            Message::FullResult { sealed } => sealed,
            Message::Rejected { reason } => return Err(Error::UnverifiedRejection(reason)),
            _ => return Err(Error::UnexpectedMessage("non-FullResult")),
        };
        let (reason, sequence) = open_result(&self.reader_to_phone, MessageType::FullResult, &sealed)?;
        let fast_secret = reason.is_granted().then_some(FastSecret {
            reader: self.reader,
            credential: self.credential,
            secret: self.persistent,
        });
        Ok(Outcome { reason, kind: ExchangeKind::Full, fast_secret, reader_list_sequence: sequence, list_key: None })
    }
}

/// Opens an authenticated answer: the reason and the reader's revocation sequence.
fn open_result(key: &Secret, kind: MessageType, sealed: &[u8]) -> Result<(Reason, u32)> {
    let plain = schedule::open(key, &Message::header(kind), sealed).ok_or(Error::AnswerNotAuthentic)?;
    match plain.as_slice() {
        [code, a, b, c, d] => {
            let reason = Reason::from_code(*code).ok_or(Error::AnswerNotAuthentic)?;
            Ok((reason, u32::from_be_bytes([*a, *b, *c, *d])))
        }
        _ => Err(Error::AnswerNotAuthentic),
    }
}

/// Seals a reader decision and its revocation sequence for `kind` (used by the reader; here so
/// both sides share one definition of the answer).
pub(crate) fn seal_result(
    key: &Secret,
    kind: MessageType,
    reason: Reason,
    list_sequence: u32,
) -> Result<[u8; RESULT_SEALED_LEN]> {
    let mut plain = [0u8; RESULT_PLAINTEXT_LEN];
    plain[0] = reason as u8;
    plain[1..].copy_from_slice(&list_sequence.to_be_bytes());
    schedule::seal_array(key, &Message::header(kind), &plain)
}
