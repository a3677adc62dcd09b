//! The reader's side of the unlock exchange: a [`Responder`] that turns each request into exactly
//! one reply and, when the exchange ends, a [`Decision`] for the lock and the audit log.
//!
//! The responder never errors and never panics on input: whatever arrives, the phone gets an
//! answer. Everything it checks, it checks with what it was provisioned with (its certificate,
//! its key, the organization's trust anchors, the minimum revocation epoch): no network at the
//! door. It does not measure distance; a tap-mode reader checks proximity before calling it.

use std::{collections::VecDeque, time::Duration};

use ring::{agreement::EphemeralPrivateKey, rand::SecureRandom};

use crate::{
    Reason, Result,
    advertisement::{Advertisement, UnlockMode},
    certificate::ReaderCertificate,
    credential::{CREDENTIAL_MAX_LEN, Credential, CredentialBody},
    delivery,
    ids::{CredentialId, MemberId, Nonce, ReaderTime, Timestamp},
    keys::{OrganizationPublicKey, ReaderKey},
    message::{HELLO_CLEAR_LEN, Message, MessageType, PHONE_NONCE_LEN, READER_HELLO_SIGNED_LEN},
    phone::{ACTION_UNLOCK, seal_result},
    revocation::SignedRevocationList,
    schedule::{self, FastKeys, HandshakeKeys, Secret},
};

/// What a reader is provisioned with.
#[derive(Debug)]
pub struct ReaderConfig {
    /// The organization's certificate for this reader's key and lock.
    pub certificate: ReaderCertificate,
    /// This reader's signing key.
    pub key: ReaderKey,
    /// Organization keys whose credentials this reader accepts (several during key rotation).
    pub trust: Vec<OrganizationPublicKey>,
    /// Credentials with a lower revocation epoch are refused.
    pub min_epoch: u32,
    /// Tap or range.
    pub mode: UnlockMode,
    /// The door requires owner verification: only credentials bound to an owner key
    /// ([`CredentialBody::owner_verified`]) open it, and only in a full exchange, whose device
    /// signature over this exchange's fresh transcript the phone's OS released just after the
    /// owner verified. No fast exchange here: its secret needs no one's verification.
    pub owner_verification: bool,
    /// RSSI at tap distance, advertised for phones.
    pub tap_rssi_threshold: i8,
    /// Calibrated TX power at 1 m, advertised for phones.
    pub tx_power: i8,
    /// Fast-exchange secrets kept (most recently used first); the oldest is forgotten beyond it
    /// and its phone falls back to a full exchange.
    pub session_capacity: usize,
    /// How long an advertised nonce is current if no answer rotates it first (monotonic time).
    pub nonce_lifetime: Duration,
    /// How long a nonce is still accepted after it stopped being current, for a phone that read
    /// it just before it rotated. A fast request is accepted at most `nonce_lifetime +
    /// nonce_grace` after its nonce was first advertised: that is how long a request captured
    /// by a fake reader stays useful.
    pub nonce_grace: Duration,
}

/// Default [`ReaderConfig::nonce_lifetime`]: 500 ms.
pub const NONCE_LIFETIME: Duration = Duration::from_millis(500);
/// Default [`ReaderConfig::nonce_grace`]: 500 ms, so a captured fast request is useless one
/// second after its nonce was first advertised.
pub const NONCE_GRACE: Duration = Duration::from_millis(500);

impl ReaderConfig {
    /// Defaults for the tunables: 256 sessions, nonces current for [`NONCE_LIFETIME`] and
    /// accepted for [`NONCE_GRACE`] after.
    pub fn new(certificate: ReaderCertificate, key: ReaderKey, trust: Vec<OrganizationPublicKey>) -> Self {
        Self {
            certificate,
            key,
            trust,
            min_epoch: 0,
            mode: UnlockMode::Tap,
            owner_verification: false,
            tap_rssi_threshold: -55,
            tx_power: -59,
            session_capacity: 256,
            nonce_lifetime: NONCE_LIFETIME,
            nonce_grace: NONCE_GRACE,
        }
    }
}

/// Which exchange produced a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    /// First meeting: signatures and ECDH.
    Full,
    /// Later taps: symmetric only.
    Fast,
}

/// The end of one exchange, for the lock (open or not) and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Granted or why not.
    pub reason: Reason,
    /// Which exchange.
    pub kind: ExchangeKind,
    /// The credential presented, once the reader could read and trust it.
    pub credential: Option<CredentialId>,
    /// Its member, likewise.
    pub member: Option<MemberId>,
}

/// The bytes to send back, and the decision if the exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// One message for the phone.
    pub bytes: Vec<u8>,
    /// Set when this reply ends the exchange.
    pub decision: Option<Decision>,
}

/// What a reader did with a revocation list it was handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListOutcome {
    /// Newer than the one held, signed by a trusted key of the reader's organization: applied.
    Applied,
    /// Genuine, but not newer than the one held (sequence numbers only go up): ignored.
    NotNewer,
    /// Not signed by a key the reader trusts for its organization: ignored.
    Untrusted,
    /// Genuine, but its signed time is further ahead of the reader's clock than the reader
    /// lets signed time move it (a cloud with a wrong clock): refused whole, nothing changes.
    TooFarAhead,
}

/// Per-connection state: a full exchange's keys between its two round trips, and once an
/// answer went out, the single-use key of the revocation list the phone may hand over.
#[derive(Default)]
pub struct Connection {
    pending: Option<HandshakeKeys>,
    list_key: Option<Secret>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(key) = self.list_key.as_mut() {
            zeroize::Zeroize::zeroize(key);
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("handshake_pending", &self.pending.is_some())
            .field("list_expected", &self.list_key.is_some())
            .finish()
    }
}

struct Session {
    secret: Secret,
    credential: CredentialBody,
}

impl Drop for Session {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

/// The reader's exchange logic and its memory: fast-exchange sessions, the advertised nonce and
/// the requests already answered under it.
pub struct Responder {
    config: ReaderConfig,
    sessions: VecDeque<Session>,
    nonce: Nonce,
    /// Monotonic reading when `nonce` became current.
    nonce_born: Duration,
    /// The nonce before, and the monotonic reading at which it stopped being current.
    previous_nonce: Option<(Nonce, Duration)>,
    /// Nonces drawn ahead of time and told to the cloud ([`Responder::announce_nonces`]): the
    /// next rotations advertise them in order.
    upcoming: VecDeque<Nonce>,
    answered: Vec<(Nonce, [u8; PHONE_NONCE_LEN])>,
    revocation_sequence: u32,
    revoked: Vec<CredentialId>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("reader", &self.config.certificate.reader)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// A reader starting at `now` with a fresh nonce.
    pub fn new(config: ReaderConfig, now: impl Into<ReaderTime>, rng: &dyn SecureRandom) -> Result<Self> {
        Ok(Self {
            config,
            sessions: VecDeque::new(),
            nonce: Nonce::random(rng)?,
            previous_nonce: None,
            upcoming: VecDeque::new(),
            nonce_born: now.into().monotonic,
            answered: Vec::new(),
            revocation_sequence: 0,
            revoked: Vec::new(),
        })
    }

    /// The reader's configuration.
    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// Sets how long each advertised nonce is current and how long it is still accepted after
    /// it rotated: a captured fast request is useless `lifetime + grace` after its nonce first
    /// appeared. Radios whose connection set-up takes longer than the default second (an
    /// emulated stack) need more; the window is also the longest a harvested request stays live.
    pub fn set_nonce_timing(&mut self, lifetime: Duration, grace: Duration) {
        self.config.nonce_lifetime = lifetime;
        self.config.nonce_grace = grace;
    }

    /// Turns owner verification on or off (the door's setting, from the cloud): see
    /// [`ReaderConfig::owner_verification`]. Turning it on ends every fast session at once.
    pub fn set_owner_verification(&mut self, required: bool) {
        self.config.owner_verification = required;
        if required {
            self.sessions.clear();
        }
    }

    /// Raises (never lowers) the minimum revocation epoch: from now on older credentials are
    /// refused, in full and fast exchanges alike.
    pub fn set_min_epoch(&mut self, epoch: u32) {
        self.config.min_epoch = self.config.min_epoch.max(epoch);
    }

    /// Applies a signed revocation list if a trusted key of the reader's organization signed it
    /// and it is newer than the one held: its credential ids are refused from then on (full and
    /// fast exchanges alike) and the minimum epoch rises to the list's (never falls).
    pub fn apply_revocation_list(&mut self, list: &SignedRevocationList) -> ListOutcome {
        let body = list.list();
        let trusted =
            body.org == self.config.certificate.org && self.config.trust.iter().any(|anchor| list.verify(anchor));
        if !trusted {
            return ListOutcome::Untrusted;
        }
        if body.sequence <= self.revocation_sequence {
            return ListOutcome::NotNewer;
        }
        self.revocation_sequence = body.sequence;
        self.revoked = body.revoked.clone();
        self.set_min_epoch(body.min_epoch);
        ListOutcome::Applied
    }

    /// The sequence of the newest revocation list applied (0: none yet).
    pub fn revocation_sequence(&self) -> u32 {
        self.revocation_sequence
    }

    /// The revoked credential ids of the newest list applied, ascending.
    pub fn revoked(&self) -> &[CredentialId] {
        &self.revoked
    }

    /// Restores what a reader persisted of the newest list it applied (sequence, revoked ids,
    /// epoch) after a restart. Like a list, it only ever tightens: a sequence not above the one
    /// held changes nothing, and the epoch never falls.
    pub fn restore_revocation(&mut self, sequence: u32, mut revoked: Vec<CredentialId>, min_epoch: u32) {
        self.set_min_epoch(min_epoch);
        if sequence > self.revocation_sequence {
            revoked.sort();
            revoked.dedup();
            self.revocation_sequence = sequence;
            self.revoked = revoked;
        }
    }

    /// Number of fast-exchange sessions held.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// What to advertise now; rotates the nonce if it outlived its lifetime. Call it at least
    /// every [`ReaderConfig::nonce_lifetime`] while advertising, so phones read a current nonce.
    pub fn advertisement(&mut self, now: impl Into<ReaderTime>, rng: &dyn SecureRandom) -> Result<Advertisement> {
        self.age_nonce(now.into().monotonic, rng)?;
        Ok(Advertisement {
            reader: self.config.certificate.reader,
            nonce: self.nonce,
            mode: self.config.mode,
            tap_rssi_threshold: self.config.tap_rssi_threshold,
            tx_power: self.config.tx_power,
        })
    }

    /// Draws nonces ahead of time until `count` wait to be advertised, and returns the nonces a
    /// phone may hear from now on: the previous one, the current one and those upcoming, in
    /// advertising order. An online reader tells the cloud this list, so the cloud can check a
    /// phone's claim that it heard the reader (a remote unlock's proof of proximity) without
    /// the reader reporting every rotation. The nonces stay as unpredictable as ever to
    /// everyone else: they are drawn from the same random source, only earlier.
    pub fn announce_nonces(&mut self, count: usize, rng: &dyn SecureRandom) -> Result<Vec<Nonce>> {
        while self.upcoming.len() < count {
            self.upcoming.push_back(Nonce::random(rng)?);
        }
        Ok(self
            .previous_nonce
            .map(|(n, _)| n)
            .into_iter()
            .chain([self.nonce])
            .chain(self.upcoming.iter().copied())
            .collect())
    }

    /// How many announced nonces have not been advertised yet.
    pub fn upcoming_nonces(&self) -> usize {
        self.upcoming.len()
    }

    /// Rotates the nonce if it outlived its lifetime on the monotonic clock (or that clock went
    /// back, which a caller must not do: rotating is the safe answer). The retired nonce counts
    /// as retired when its lifetime ended, not when this noticed, so its grace never stretches.
    fn age_nonce(&mut self, monotonic: Duration, rng: &dyn SecureRandom) -> Result<()> {
        let expires = self.nonce_born.saturating_add(self.config.nonce_lifetime);
        if monotonic >= expires {
            self.rotate_nonce(monotonic, expires, rng)?;
        } else if monotonic < self.nonce_born {
            self.rotate_nonce(monotonic, monotonic, rng)?;
        }
        Ok(())
    }

    fn rotate_nonce(&mut self, monotonic: Duration, retired_at: Duration, rng: &dyn SecureRandom) -> Result<()> {
        let fresh = match self.upcoming.pop_front() {
            Some(announced) => announced,
            None => Nonce::random(rng)?,
        };
        self.previous_nonce = Some((std::mem::replace(&mut self.nonce, fresh), retired_at));
        self.nonce_born = monotonic;
        let live = [Some(self.nonce), self.previous_nonce.map(|(n, _)| n)];
        self.answered.retain(|(nonce, _)| live.contains(&Some(*nonce)));
        Ok(())
    }

    /// True if a fast request under `nonce` is still fresh: the current nonce, or the previous
    /// one within its grace.
    fn accepts(&self, nonce: Nonce, monotonic: Duration) -> bool {
        nonce == self.nonce
            || self.previous_nonce.is_some_and(|(previous, retired)| {
                previous == nonce && monotonic < retired.saturating_add(self.config.nonce_grace)
            })
    }

    /// Answers one request from the phone on `connection`.
    pub fn handle(
        &mut self,
        connection: &mut Connection,
        request: &[u8],
        now: impl Into<ReaderTime>,
        rng: &dyn SecureRandom,
    ) -> Reply {
        let now = now.into();
        if self.age_nonce(now.monotonic, rng).is_err() {
            return reject(Reason::ReaderError, ExchangeKind::Full);
        }
        let Ok(message) = Message::decode(request) else {
            return reject(Reason::Malformed, ExchangeKind::Full);
        };
        match message {
            Message::Hello { phone_ephemeral, reader_nonce, phone_nonce, fast } => {
                connection.pending = None;
                connection.list_key = None;
                let clear = request.get(..HELLO_CLEAR_LEN).unwrap_or_default();
                if let Some(reply) = self.fast_request(connection, reader_nonce, phone_nonce, clear, &fast, now, rng) {
                    return reply;
                }
                self.full_hello(connection, request, &phone_ephemeral, now.wall, rng)
            }
            Message::FullAuth { sealed } => match connection.pending.take() {
                Some(keys) => {
                    connection.list_key = None;
                    self.full_auth(keys, &sealed, now, rng)
                }
                None => reject(Reason::UnexpectedMessage, ExchangeKind::Full),
            },
            Message::ReaderHello { .. }
            | Message::FullResult { .. }
            | Message::FastResult { .. }
            | Message::Rejected { .. } => reject(Reason::UnexpectedMessage, ExchangeKind::Full),
        }
    }

    /// Opens the revocation list a phone handed over on `connection` once this reader proved
    /// itself (after its hello, before the FullAuth; or after a fast answer), message type
    /// `LIST_DELIVERY_TYPE`. Accepted once per exchange, only under that exchange's key: the
    /// caller still decides whether to apply it ([`Responder::apply_revocation_list`]).
    pub fn open_list_delivery(&mut self, connection: &mut Connection, bytes: &[u8]) -> Result<SignedRevocationList> {
        let mut key =
            connection.list_key.take().ok_or(crate::Error::UnexpectedMessage("list delivery before an answer"))?;
        let list = delivery::open(&key, bytes);
        zeroize::Zeroize::zeroize(&mut key);
        list
    }

    fn full_hello(
        &mut self,
        connection: &mut Connection,
        hello: &[u8],
        phone_ephemeral: &[u8; 32],
        now: Timestamp,
        rng: &dyn SecureRandom,
    ) -> Reply {
        match self.reader_hello(hello, phone_ephemeral, now, rng) {
            Ok((bytes, keys)) => {
                // The phone may hand over its revocation list now, before its credential, if this
                // hello says the reader is behind: so a lagging clock is corrected before the
                // credential's validity is judged.
                connection.list_key = Some(keys.list);
                connection.pending = Some(keys);
                Reply { bytes, decision: None }
            }
            Err(_) => reject(Reason::ReaderError, ExchangeKind::Full),
        }
    }

    fn reader_hello(
        &self,
        hello: &[u8],
        phone_ephemeral: &[u8; 32],
        now: Timestamp,
        rng: &dyn SecureRandom,
    ) -> Result<(Vec<u8>, HandshakeKeys)> {
        let (private, reader_ephemeral): (EphemeralPrivateKey, _) = schedule::ephemeral(rng)?;
        let hello_with = |signature| Message::ReaderHello {
            reader_ephemeral,
            list_sequence: self.revocation_sequence,
            reader_time: now,
            certificate: self.config.certificate.clone(),
            signature,
        };
        let unsigned = hello_with([0; 64]).encode()?;
        let signed = unsigned.get(..READER_HELLO_SIGNED_LEN).unwrap_or_default();
        let signature = self.config.key.sign(&schedule::reader_hello_signing_input(hello, signed));
        let reply = hello_with(signature).encode()?;
        let keys = HandshakeKeys::derive(private, phone_ephemeral, hello, &reply)?;
        Ok((reply, keys))
    }

    fn full_auth(&mut self, keys: HandshakeKeys, sealed: &[u8], time: ReaderTime, rng: &dyn SecureRandom) -> Reply {
        let now = time.wall;
        let header = Message::header(MessageType::FullAuth);
        let Some(plain) = schedule::open(&keys.phone_to_reader, &header, sealed) else {
            return reject(Reason::Malformed, ExchangeKind::Full);
        };
        let (credential_bytes, signature) = plain.split_at(CREDENTIAL_MAX_LEN.min(plain.len()));
        let Ok((credential, used)) = Credential::decode_prefix(credential_bytes) else {
            return reject(Reason::Malformed, ExchangeKind::Full);
        };
        let padding_is_zero = credential_bytes.get(used..).is_some_and(|pad| pad.iter().all(|&b| b == 0));
        let Ok(signature) = <[u8; 64]>::try_from(signature) else {
            return reject(Reason::Malformed, ExchangeKind::Full);
        };
        if !padding_is_zero {
            return reject(Reason::Malformed, ExchangeKind::Full);
        }
        let reason = self.judge_full(&credential, &keys, &signature, now);
        let body = credential.body();
        // Only a credential whose organization signature verified names anyone: an unverified one
        // is whatever the sender typed, and must never put a member's name in the record.
        let verified = !matches!(reason, Reason::WrongOrganizationKey | Reason::BadCredentialSignature);
        let decision = Decision {
            reason,
            kind: ExchangeKind::Full,
            credential: verified.then_some(body.id),
            member: verified.then_some(body.member),
        };
        let Ok(sealed) = seal_result(&keys.reader_to_phone, MessageType::FullResult, reason, self.revocation_sequence)
        else {
            return reject(Reason::ReaderError, ExchangeKind::Full);
        };
        if reason.is_granted() && !self.config.owner_verification {
            self.remember(Session { secret: keys.persistent, credential: body.clone() });
        }
        let _ = self.rotate_nonce(time.monotonic, time.monotonic, rng);
        finish(Message::FullResult { sealed }, decision)
    }

    fn judge_full(
        &self,
        credential: &Credential,
        keys: &HandshakeKeys,
        signature: &[u8; 64],
        now: Timestamp,
    ) -> Reason {
        let body = credential.body();
        let cert = &self.config.certificate;
        let anchor = self.config.trust.iter().find(|a| a.org == body.org && a.key_id == body.org_key);
        let Some(anchor) = anchor.filter(|_| body.org == cert.org) else {
            return Reason::WrongOrganizationKey;
        };
        if !credential.verify(anchor) {
            return Reason::BadCredentialSignature;
        }
        if !body.device_key.verify(&keys.device_signing_input(credential.encoded()), signature) {
            return Reason::DeviceProofFailed;
        }
        match self.judge_scope(body, now) {
            Reason::Granted if self.config.owner_verification && !body.owner_verified => Reason::OwnerNotVerified,
            reason => reason,
        }
    }

    /// Scope, time and revocation: checked on every exchange, full or fast, so a fast exchange
    /// never extends what the full one proved.
    fn judge_scope(&self, body: &CredentialBody, now: Timestamp) -> Reason {
        if !body.opens(self.config.certificate.lock) {
            Reason::WrongLock
        } else if now < body.validity.not_before {
            Reason::NotYetValid
        } else if now >= body.validity.not_after {
            Reason::Expired
        } else if body.revocation_epoch < self.config.min_epoch || self.revoked.binary_search(&body.id).is_ok() {
            Reason::Revoked
        } else {
            Reason::Granted
        }
    }

    fn remember(&mut self, session: Session) {
        self.sessions.retain(|s| s.credential.id != session.credential.id);
        self.sessions.push_front(session);
        self.sessions.truncate(self.config.session_capacity.max(1));
    }

    /// The fast request inside a hello, if it is one this reader can answer: its nonce still
    /// accepted, not answered before, and sealed under a session held (found by trial, most
    /// recently used first). `None` sends the hello on to a full exchange, which is also what
    /// a phone with no secret for this reader gets: the reader's answer is the only thing that
    /// tells the two apart, and only the genuine reader can give it.
    #[allow(clippy::too_many_arguments)]
    fn fast_request(
        &mut self,
        connection: &mut Connection,
        reader_nonce: Nonce,
        phone_nonce: [u8; PHONE_NONCE_LEN],
        clear: &[u8],
        sealed: &[u8],
        time: ReaderTime,
        rng: &dyn SecureRandom,
    ) -> Option<Reply> {
        let now = time.wall;
        if self.config.owner_verification
            || !self.accepts(reader_nonce, time.monotonic)
            || self.answered.contains(&(reader_nonce, phone_nonce))
        {
            return None;
        }
        let reader = self.config.certificate.reader;
        let (index, keys, plain) = self.sessions.iter().enumerate().find_map(|(index, session)| {
            let keys = FastKeys::derive(&session.secret, reader, reader_nonce, &phone_nonce).ok()?;
            let plain = schedule::open(&keys.request, clear, sealed)?;
            Some((index, keys, plain))
        })?;
        let Some(session) = self.sessions.remove(index) else {
            return Some(reject(Reason::ReaderError, ExchangeKind::Fast));
        };
        let reason = if plain.as_slice() == [ACTION_UNLOCK] {
            self.judge_scope(&session.credential, now)
        } else {
            Reason::Malformed
        };
        let decision = Decision {
            reason,
            kind: ExchangeKind::Fast,
            credential: Some(session.credential.id),
            member: Some(session.credential.member),
        };
        self.sessions.push_front(session);
        let Ok(sealed) = seal_result(&keys.response, MessageType::FastResult, reason, self.revocation_sequence) else {
            return Some(reject(Reason::ReaderError, ExchangeKind::Fast));
        };
        connection.list_key = Some(keys.list);
        self.answered.push((reader_nonce, phone_nonce));
        let _ = self.rotate_nonce(time.monotonic, time.monotonic, rng);
        Some(finish(Message::FastResult { sealed }, decision))
    }
}

fn finish(message: Message, decision: Decision) -> Reply {
    match message.encode() {
        Ok(bytes) => Reply { bytes, decision: Some(decision) },
        Err(_) => reject(Reason::ReaderError, decision.kind),
    }
}

/// A refusal in the clear. One refused before its hello's fast request was opened counts as
/// the full exchange every hello can become.
fn reject(reason: Reason, kind: ExchangeKind) -> Reply {
    let bytes = crate::message::Message::header(MessageType::Rejected).iter().copied().chain([reason as u8]).collect();
    Reply { bytes, decision: Some(Decision { reason, kind, credential: None, member: None }) }
}
