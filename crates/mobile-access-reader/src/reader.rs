//! The reader's policy around the protocol's `Responder`: proximity, tamper, relay, feedback
//! and audit.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use mobile_access_protocol::{
    Advertisement, CredentialId, Message, MessageType, Nonce, ReaderId, ReaderTime, Reason, SignedRevocationList,
    reader::{Connection, Decision, ExchangeKind, ListOutcome, ReaderConfig, Responder},
};
use ring::rand::{SecureRandom, SystemRandom};

use crate::{
    AuditEntry, AuditLog, DriftingClock, Error, Feedback, FeedbackEvent, Light, Mode, Outcome, Provisioning,
    ReaderState, ReaderStateStore, Result, Sound, hex,
};

/// How far ahead of the reader's clock a revocation list's signed time may be, in seconds: two
/// hours. Within it, the signed time moves a lagging clock forward (a year of a 100 ppm crystal
/// is under an hour); beyond it the list is refused ([`ListOutcome::TooFarAhead`]) and the clock
/// does not move. So one list from a cloud with a wrong clock moves a reader's clock by at most
/// this much, and replaying that list moves it no further (the clock is then at its time).
pub const MAX_SIGNED_TIME_LEAD: u32 = 2 * 3600;

/// How often, at most, the clock floor alone is saved (a reader also saves it with every other
/// change): an hour, so a restarted reader's clock is never more than that behind what it knew.
const FLOOR_SAVE_PERIOD: u32 = 3600;

/// A decision the reader made but has not acted on: it acts once it knows whether the phone
/// received the answer ([`Reader::conclude`]), so the relay never opens on an exchange the
/// phone saw fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a decision must be concluded, or the attempt is neither acted on nor logged"]
pub struct PendingDecision {
    decision: Decision,
    rssi: Option<i16>,
}

impl PendingDecision {
    /// The decision's reason.
    pub fn reason(&self) -> Reason {
        self.decision.reason
    }
}

/// What to send back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// One protocol message for the phone.
    pub bytes: Vec<u8>,
    /// Set when this answer ends the exchange.
    pub pending: Option<PendingDecision>,
}

/// A door reader's logic. Transport-independent and clock-independent: every call takes the
/// current instant, so a simulator, a test and real firmware drive it alike.
pub struct Reader {
    id: ReaderId,
    model: String,
    mode: Mode,
    tap_rssi_threshold: i8,
    range_rssi_floor: Option<i8>,
    tamper_protection: bool,
    relay_open: Duration,
    responder: Responder,
    clock: DriftingClock,
    rng: SystemRandom,
    tampered: bool,
    relay_open_until: Option<Instant>,
    audit: AuditLog,
    feedback: Vec<FeedbackEvent>,
    boot: u64,
    revocation_reasons: HashMap<CredentialId, Reason>,
    /// The door's owner-verification setting as the cloud last said it (`None`: not yet).
    owner_verification_told: Option<bool>,
    store: Option<Box<dyn ReaderStateStore>>,
    saved_floor: mobile_access_protocol::Timestamp,
    /// The instant the reader started: the origin of the monotonic time nonces rotate on, so
    /// setting the wall clock back never stalls a nonce.
    started: Instant,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("id", &self.id)
            .field("mode", &self.mode)
            .field("tampered", &self.tampered)
            .field("relay_open", &self.relay_open_until.is_some())
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// A reader as provisioned, its clock as given, starting at `now`, keeping nothing across
    /// restarts (tests and simulations; a real reader uses [`Reader::restore`]).
    pub fn new(provisioning: &Provisioning, clock: DriftingClock, now: Instant) -> Result<Self> {
        let key = provisioning.reader_key()?;
        let mut config = ReaderConfig::new(
            provisioning.certificate.clone(),
            key,
            provisioning.trust_anchors.iter().map(|a| a.public()).collect(),
        );
        config.min_epoch = provisioning.revocation_epoch;
        config.mode = provisioning.mode.into();
        // The advertisement's RSSI byte: the tap threshold in tap mode, the maximum distance in
        // range mode (i8::MIN: none), so phones skip a range reader they are too far from.
        config.tap_rssi_threshold = match provisioning.mode {
            Mode::Tap => provisioning.tap_rssi_threshold,
            Mode::Range => provisioning.range_rssi_floor.unwrap_or(i8::MIN),
        };
        config.tx_power = provisioning.tx_power;
        config.owner_verification = provisioning.owner_verification;
        let rng = SystemRandom::new();
        let responder = Responder::new(config, ReaderTime { wall: clock.now(now), monotonic: Duration::ZERO }, &rng)?;
        let mut boot = [0u8; 8];
        rng.fill(&mut boot).map_err(|_| mobile_access_protocol::Error::Crypto("random generator failed"))?;
        let saved_floor = clock.now(now);
        Ok(Self {
            id: provisioning.reader_id,
            model: provisioning.model.clone(),
            mode: provisioning.mode,
            tap_rssi_threshold: provisioning.tap_rssi_threshold,
            range_rssi_floor: provisioning.range_rssi_floor,
            tamper_protection: provisioning.tamper_protection,
            relay_open: Duration::from_millis(u64::from(provisioning.relay_open_ms)),
            responder,
            clock,
            rng,
            tampered: false,
            relay_open_until: None,
            audit: AuditLog::default(),
            feedback: Vec::new(),
            boot: u64::from_be_bytes(boot),
            revocation_reasons: HashMap::new(),
            owner_verification_told: None,
            store: None,
            saved_floor,
            started: now,
        })
    }

    /// A reader as provisioned that keeps its state in `store`: what the store holds is
    /// restored (revocation list, epoch, clock floor, tamper state, audit sequence and
    /// unacknowledged events, boot id), and every later change is saved before the call that
    /// made it returns. On first start (an empty store) the initial state is saved at once.
    ///
    /// Refuses to start, rather than silently forget, when the saved state is damaged
    /// ([`Error::StateDamaged`]), belongs to another reader ([`Error::StateOfAnotherReader`]),
    /// or cannot be read or written ([`Error::Storage`]).
    pub fn restore(
        provisioning: &Provisioning,
        clock: DriftingClock,
        now: Instant,
        store: Box<dyn ReaderStateStore>,
    ) -> Result<Self> {
        let mut reader = Self::new(provisioning, clock, now)?;
        if let Some(bytes) = store.load()? {
            let state = ReaderState::decode(&bytes)?;
            let org = provisioning.certificate.org;
            if state.reader != reader.id || state.org != org {
                return Err(Error::StateOfAnotherReader {
                    expected: format!("{}/{}", hex::encode(&org.0), reader.id),
                    found: format!("{}/{}", hex::encode(&state.org.0), state.reader),
                });
            }
            reader.apply_state(state, now);
        }
        reader.store = Some(store);
        reader.save(now)?;
        Ok(reader)
    }

    fn apply_state(&mut self, state: ReaderState, now: Instant) {
        self.responder.restore_revocation(state.revocation_sequence, state.revoked.clone(), state.min_epoch);
        if self.clock.now(now) < state.clock_floor {
            tracing::warn!(reader = %self.id, "clock behind its saved floor: moved up to it");
            self.clock.set(now, state.clock_floor);
        }
        self.tampered = state.tampered;
        self.boot = state.boot;
        self.audit = AuditLog::restore(AuditLog::DEFAULT_CAPACITY, state.events.clone(), state.audit_counters());
        self.revocation_reasons = state.revocation_reasons.into_iter().collect();
        if let Some(required) = state.owner_verification {
            self.owner_verification_told = Some(required);
            self.responder.set_owner_verification(required);
        }
    }

    /// What this reader would persist now.
    pub fn state(&self, now: Instant) -> ReaderState {
        self.snapshot(self.clock.now(now))
    }

    fn snapshot(&self, clock_floor: mobile_access_protocol::Timestamp) -> ReaderState {
        let counters = self.audit.counters();
        let mut reasons: Vec<_> = self.revocation_reasons.iter().map(|(id, reason)| (*id, *reason)).collect();
        reasons.sort_by_key(|(id, _)| *id);
        ReaderState {
            reader: self.id,
            org: self.responder.config().certificate.org,
            boot: self.boot,
            revocation_sequence: self.responder.revocation_sequence(),
            revoked: self.responder.revoked().to_vec(),
            min_epoch: self.responder.config().min_epoch,
            clock_floor,
            tampered: self.tampered,
            audit_next: counters.next,
            audit_acknowledged: counters.acknowledged,
            audit_dropped: counters.dropped,
            audit_dropped_authenticated: counters.dropped_authenticated,
            events: self.audit.unacknowledged().map(|(seq, entry)| (seq, entry.clone())).collect(),
            revocation_reasons: reasons,
            owner_verification: self.owner_verification_told,
        }
    }

    /// Saves the state now (a reader with a store saves after every change by itself; a host
    /// calls this to learn whether saving works, e.g. before reporting healthy).
    pub fn save(&mut self, now: Instant) -> Result<()> {
        self.save_with_floor(self.clock.now(now))
    }

    fn save_with_floor(&mut self, floor: mobile_access_protocol::Timestamp) -> Result<()> {
        if self.store.is_none() {
            return Ok(());
        }
        let bytes = self.snapshot(floor).encode();
        if let Some(store) = self.store.as_mut() {
            store.save(&bytes)?;
        }
        self.saved_floor = floor;
        Ok(())
    }

    /// Saves after a change the caller cannot be told about (its method returns nothing): a
    /// failure is logged as an error and retried with the next change.
    fn persist(&mut self, now: Instant) {
        let result = self.save(now);
        self.log_failure(result);
    }

    /// Likewise, for a change made without an instant: the clock floor stays as last saved.
    fn persist_floorless(&mut self) {
        let result = self.save_with_floor(self.saved_floor);
        self.log_failure(result);
    }

    fn log_failure(&self, result: Result<()>) {
        if let Err(error) = result {
            tracing::error!(reader = %self.id, %error, "could not save the reader state");
        }
    }

    fn time(&self, now: Instant) -> ReaderTime {
        ReaderTime { wall: self.clock.now(now), monotonic: now.saturating_duration_since(self.started) }
    }

    /// The reader's id.
    pub fn id(&self) -> ReaderId {
        self.id
    }

    /// What to advertise now (the nonce rotates after every sealed answer and when it ages).
    pub fn advertisement(&mut self, now: Instant) -> Result<Advertisement> {
        Ok(self.responder.advertisement(self.time(now), &self.rng)?)
    }

    /// The reader's hardware model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Whether tamper protection is on.
    pub fn tamper_protection(&self) -> bool {
        self.tamper_protection
    }

    /// Answers one whole request from the phone on `connection`, heard at `rssi` dBm: `None`
    /// when the controller measured none (BlueZ's emulated controllers and some chipsets report
    /// 127, the HCI's "not available", which must arrive here as `None`;
    /// `mobile_access_ble::Rssi::from_hci` maps it).
    ///
    /// A tap-mode reader refuses with [`Reason::NotCloseEnough`] a phone it hears below its
    /// threshold, and one it cannot measure at all: tap mode promises the door opens only for a
    /// phone held against it, so without a measurement it fails closed. A range reader does
    /// not use the RSSI.
    pub fn handle(&mut self, connection: &mut Connection, request: &[u8], rssi: Option<i16>, now: Instant) -> Answer {
        if self.tamper_protection && self.tampered {
            return self.refuse(ExchangeKind::Full, Reason::Tampered, rssi);
        }
        if self.mode == Mode::Tap {
            let threshold = i16::from(self.tap_rssi_threshold);
            match rssi {
                None => {
                    tracing::warn!(
                        reader = %self.id,
                        "tap refused: the phone's RSSI is unknown (the controller reports none), so nothing shows \
                         it is held against the reader"
                    );
                    return self.refuse(ExchangeKind::Full, Reason::NotCloseEnough, rssi);
                }
                Some(dbm) if dbm < threshold => {
                    tracing::debug!(reader = %self.id, rssi = dbm, threshold, "tap refused: phone not close enough");
                    return self.refuse(ExchangeKind::Full, Reason::NotCloseEnough, rssi);
                }
                Some(_) => {}
            }
        }
        // A range reader's maximum distance, when the operator set one. Fails closed: an RSSI the
        // reader cannot measure must count as beyond it whenever a floor is set.
        if self.mode == Mode::Range
            && self.range_rssi_floor.is_some_and(|floor| rssi.is_none_or(|dbm| dbm < i16::from(floor)))
        {
            return self.refuse(ExchangeKind::Full, Reason::NotCloseEnough, rssi);
        }
        self.handle_request(connection, request, rssi, now)
    }

    /// Answers a request whose proximity was already established (BLE in range, or an NFC tap).
    pub(crate) fn handle_request(
        &mut self,
        connection: &mut Connection,
        request: &[u8],
        rssi: Option<i16>,
        now: Instant,
    ) -> Answer {
        let kind = ExchangeKind::Full;
        if self.tamper_protection && self.tampered {
            return self.refuse(kind, Reason::Tampered, rssi);
        }
        let reply = self.responder.handle(connection, request, self.time(now), &self.rng);
        Answer { bytes: reply.bytes, pending: reply.decision.map(|decision| PendingDecision { decision, rssi }) }
    }

    /// Answers a request that could not even be reassembled from its fragments.
    pub fn handle_unreadable(&mut self, rssi: Option<i16>) -> Answer {
        self.refuse(ExchangeKind::Full, Reason::Malformed, rssi)
    }

    pub(crate) fn refuse_nfc(&self, reason: Reason, rssi: Option<i16>) -> PendingDecision {
        let decision = Decision { reason, kind: ExchangeKind::Full, credential: None, member: None };
        PendingDecision { decision, rssi }
    }

    fn refuse(&self, kind: ExchangeKind, reason: Reason, rssi: Option<i16>) -> Answer {
        let bytes = Message::Rejected { reason }.encode().unwrap_or_else(|_| {
            vec![mobile_access_protocol::PROTOCOL_VERSION, MessageType::Rejected as u8, reason as u8]
        });
        let decision = Decision { reason, kind, credential: None, member: None };
        Answer { bytes, pending: Some(PendingDecision { decision, rssi }) }
    }

    /// Acts on a decision once the answer was delivered to the phone (or logs that it was not):
    /// relay, light, sound, audit.
    pub fn conclude(&mut self, pending: PendingDecision, delivered: bool, now: Instant) {
        self.conclude_delivered(pending, delivered, now);
        self.persist(now);
    }

    /// Concludes an NFC exchange (the field carries the answer or nothing) and returns the
    /// reason as logged.
    pub(crate) fn conclude_refined(&mut self, pending: PendingDecision, now: Instant) -> Reason {
        let reason = self.conclude_delivered(pending, true, now);
        self.persist(now);
        reason
    }

    fn conclude_delivered(&mut self, pending: PendingDecision, delivered: bool, now: Instant) -> Reason {
        let PendingDecision { mut decision, rssi } = pending;
        if decision.reason == Reason::Revoked
            && let Some(reason) = decision.credential.and_then(|id| self.revocation_reasons.get(&id))
        {
            decision.reason = *reason;
        }
        let reason = decision.reason;
        let outcome = match (delivered, reason.is_granted()) {
            (false, _) => Outcome::Interrupted(reason),
            (true, true) => Outcome::Granted,
            (true, false) => Outcome::Refused(reason),
        };
        tracing::info!(reader = %self.id, ?outcome, kind = ?decision.kind, rssi, "unlock attempt");
        self.audit.push(AuditEntry {
            at: self.clock.now(now),
            exchange: decision.kind,
            credential: decision.credential,
            member: decision.member,
            rssi,
            outcome,
        });
        match outcome {
            Outcome::Granted => {
                self.emit(now, Feedback::Signal { light: Light::Green, sound: Sound::Success, reason });
                if self.relay_open_until.is_none() {
                    self.emit(now, Feedback::RelayOpened);
                }
                self.relay_open_until = Some(now + self.relay_open);
            }
            // The phone falls back to a full exchange at once; a red flash would mislead.
            Outcome::Refused(Reason::UnknownSession) | Outcome::Interrupted(_) => {}
            Outcome::Refused(reason) => {
                self.emit(now, Feedback::Signal { light: Light::Red, sound: Sound::Error, reason })
            }
        }
        reason
    }

    /// Opens the door on the cloud's command: a member's remote unlock, which the cloud already
    /// checked (the member's rights, the organization's policy, the proof of proximity). Green
    /// light and sound as for a granted tap, so someone at the door sees it open. Refused while
    /// the tamper switch is tripped with tamper protection on, as every tap is; false then.
    ///
    /// The reader's own audit log keeps the attempts it decided; the cloud audits remote
    /// unlocks, with the outcome the reader reports.
    pub fn open_on_command(&mut self, now: Instant) -> bool {
        if self.tamper_protection && self.tampered {
            tracing::warn!(reader = %self.id, "remote unlock refused: the tamper switch is tripped");
            return false;
        }
        tracing::info!(reader = %self.id, "remote unlock: relay opened on the cloud's command");
        self.emit(now, Feedback::Signal { light: Light::Green, sound: Sound::Success, reason: Reason::Granted });
        if self.relay_open_until.is_none() {
            self.emit(now, Feedback::RelayOpened);
        }
        self.relay_open_until = Some(now + self.relay_open);
        true
    }

    /// The nonces a phone may hear from this reader from now on (previous, current and `count`
    /// upcoming, drawn now): what an online reader tells the cloud, which checks a remote
    /// unlock's proof of proximity against them. See `Responder::announce_nonces`.
    pub fn announce_nonces(&mut self, count: usize, now: Instant) -> Result<Vec<Nonce>> {
        self.responder.advertisement(self.time(now), &self.rng)?;
        Ok(self.responder.announce_nonces(count, &self.rng)?)
    }

    /// Closes the relay if its open time has passed.
    pub fn tick(&mut self, now: Instant) {
        if self.relay_open_until.is_some_and(|until| until <= now) {
            self.relay_open_until = None;
            self.emit(now, Feedback::RelayClosed);
        }
        if self.store.is_some() && self.clock.now(now).since(self.saved_floor) >= FLOOR_SAVE_PERIOD {
            self.persist(now);
        }
    }

    /// When the open relay closes, if it is open.
    pub fn relay_closes_at(&self) -> Option<Instant> {
        self.relay_open_until
    }

    /// True while the relay is open.
    pub fn relay_is_open(&self) -> bool {
        self.relay_open_until.is_some()
    }

    /// The tamper switch tripped (the reader was pried off the wall). With tamper protection on,
    /// every attempt is refused until [`Reader::reset_tamper`].
    pub fn trip_tamper(&mut self) {
        tracing::warn!(reader = %self.id, protection = self.tamper_protection, "tamper switch tripped");
        self.tampered = true;
        self.persist_floorless();
    }

    /// An installer re-mounted the reader and reset the tamper state.
    pub fn reset_tamper(&mut self) {
        self.tampered = false;
        self.persist_floorless();
    }

    /// True if the tamper switch tripped and was not reset.
    pub fn is_tampered(&self) -> bool {
        self.tampered
    }

    /// How long a fast request's nonce stays accepted after it first appeared in the
    /// advertisement (default 1 s: the capture window of a harvested request). Half of it the
    /// nonce is current, half it is the previous one.
    pub fn set_nonce_window(&mut self, window: Duration) {
        self.responder.set_nonce_timing(window / 2, window - window / 2);
    }

    /// The door's owner-verification setting, as the cloud says it (each poll): on, only a
    /// credential bound to the phone's owner key opens, in a full exchange (see
    /// `ReaderConfig::owner_verification`); a phone without one is refused with
    /// `OwnerNotVerified`. Kept across restarts.
    pub fn set_owner_verification(&mut self, required: bool) {
        if self.owner_verification_told == Some(required) {
            return;
        }
        if self.responder.config().owner_verification != required {
            tracing::info!(reader = %self.id, required, "owner verification changed");
        }
        self.owner_verification_told = Some(required);
        self.responder.set_owner_verification(required);
        self.persist_floorless();
    }

    /// Whether the door requires owner verification now.
    pub fn owner_verification(&self) -> bool {
        self.responder.config().owner_verification
    }

    /// Raises the minimum revocation epoch (never lowers it).
    pub fn set_revocation_epoch(&mut self, epoch: u32) {
        self.responder.set_min_epoch(epoch);
        self.persist_floorless();
    }

    /// Applies a signed revocation list, from the cloud while online or written by a phone
    /// before its request: a newer list signed by the organization replaces the revoked set and
    /// may raise the epoch, and the list's signed time moves the clock forward if it lags (never
    /// back). Lists that do not verify change nothing. A genuine list whose signed time is more
    /// than [`MAX_SIGNED_TIME_LEAD`] ahead of the reader's clock is refused whole
    /// ([`ListOutcome::TooFarAhead`]): a cloud with a wrong clock cannot expire every key.
    ///
    /// With a store, an applied list is saved before this returns; a failed save is an
    /// [`Error::Storage`] (the list is applied in memory all the same).
    pub fn apply_revocation_list(&mut self, bytes: &[u8], now: Instant) -> Result<ListOutcome> {
        let list = SignedRevocationList::decode(bytes)?;
        let signed_time = list.list().issued_at;
        let clock = self.clock.now(now);
        let trusted = list.list().org == self.responder.config().certificate.org
            && self.responder.config().trust.iter().any(|anchor| list.verify(anchor));
        if trusted && signed_time.since(clock) > MAX_SIGNED_TIME_LEAD {
            tracing::warn!(
                reader = %self.id,
                ahead_secs = signed_time.since(clock),
                "revocation list signed too far in the future: refused"
            );
            return Ok(ListOutcome::TooFarAhead);
        }
        let outcome = self.responder.apply_revocation_list(&list);
        let mut changed = outcome == ListOutcome::Applied;
        if outcome != ListOutcome::Untrusted && signed_time > clock {
            tracing::info!(reader = %self.id, "signed time moved the clock forward");
            self.clock.set(now, signed_time);
            changed = true;
        }
        tracing::debug!(reader = %self.id, ?outcome, sequence = list.list().sequence, "revocation list");
        if changed {
            self.save(now)?;
        }
        Ok(outcome)
    }

    /// Takes a one-way message ([`is_one_way`]) that arrived on `connection`: a sealed list is
    /// opened with the key of the answer this reader just gave on that connection (once), then
    /// applied like any list ([`Reader::apply_revocation_list`]).
    pub fn apply_one_way(&mut self, connection: &mut Connection, bytes: &[u8], now: Instant) -> Result<ListOutcome> {
        if mobile_access_protocol::is_list_delivery(bytes) {
            let list = self.responder.open_list_delivery(connection, bytes)?;
            return self.apply_revocation_list(list.encoded(), now);
        }
        self.apply_revocation_list(bytes, now)
    }

    /// Why listed credentials were revoked, from the cloud's configuration poll (the signed list
    /// carries ids only): a revoked credential with a reason here is logged and signalled with
    /// it (e.g. [`Reason::PassSuspended`]) instead of the bare [`Reason::Revoked`]. Replaces the
    /// map held; the list alone still decides what is refused.
    pub fn set_revocation_reasons(&mut self, reasons: HashMap<CredentialId, Reason>) {
        if reasons != self.revocation_reasons {
            self.revocation_reasons = reasons;
            self.persist_floorless();
        }
    }

    /// The cloud stored every audit event below sequence `next` (of this reader's boot id): they
    /// are no longer kept across restarts. Saved before this returns.
    pub fn acknowledge_events(&mut self, next: u64, now: Instant) -> Result<()> {
        self.audit.acknowledge(next);
        self.save(now)
    }

    /// The sequence of the newest revocation list applied.
    pub fn revocation_sequence(&self) -> u32 {
        self.responder.revocation_sequence()
    }

    /// A random number drawn at first start: with an audit entry's sequence number it makes an
    /// event id. A reader with a store keeps both across restarts (the sequence continues), so
    /// an event keeps its id; a reader without one draws a new boot id and starts again at 0.
    pub fn boot_id(&self) -> u64 {
        self.boot
    }

    /// The reader's clock.
    pub fn clock(&self) -> &DriftingClock {
        &self.clock
    }

    /// Sets the reader's clock.
    pub fn set_time(&mut self, now: Instant, time: mobile_access_protocol::Timestamp) {
        self.clock.set(now, time);
        self.persist(now);
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Feedback produced since the last call, oldest first.
    pub fn drain_feedback(&mut self) -> Vec<FeedbackEvent> {
        std::mem::take(&mut self.feedback)
    }

    fn emit(&mut self, at: Instant, feedback: Feedback) {
        self.feedback.push(FeedbackEvent { at, feedback });
    }
}

/// True if `bytes` are a one-way message the reader takes without answering: a revocation list
/// (from the cloud, or in the clear from a technician's tool) or one a phone sealed after this
/// reader's answer. Handle them with [`Reader::apply_one_way`].
pub fn is_one_way(bytes: &[u8]) -> bool {
    SignedRevocationList::is_revocation_list(bytes) || mobile_access_protocol::is_list_delivery(bytes)
}
