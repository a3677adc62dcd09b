//! Test world and the phone-side driver: an organization, provisioned virtual readers on a
//! simulated radio, and a phone that unlocks with the protocol crate over the `Central`
//! interface. Shared by the integration tests and the latency benchmark.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::{collections::HashMap, sync::Arc, time::Duration};

use mobile_access_ble::{
    Central, Error as BleError, Link, PeripheralId, Rssi, ScanFilter,
    channel::MessageChannel,
    sim::{Position, RadioProfile, SimCentral, SimRadio},
};
use mobile_access_protocol::{
    Advertisement, Credential, CredentialBody, CredentialId, DeviceSigner, Error as ProtocolError, KeyId, LockId,
    MemberId, OrgId, OrganizationKey, OrganizationPublicKey, ReaderId, Reason, SoftwareDeviceKey, Timestamp, Validity,
    phone::{Exchange, FastSecret, Step},
    reader::ExchangeKind,
};
use mobile_access_reader::{Feedback, FeedbackEvent, Mode, Provisioning, VirtualReader, VirtualReaderOptions};
use ring::rand::SystemRandom;
use tokio::sync::broadcast;

pub const NOW: Timestamp = Timestamp(1_800_000_000);
/// Phone held against the reader.
pub const TAP: Position = Position::new(0.05, 0.0);
/// How long the driver waits for one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

pub struct World {
    pub radio: SimRadio,
    pub org: OrganizationKey,
}

impl World {
    pub fn new(profile: RadioProfile, seed: u64) -> Self {
        let rng = SystemRandom::new();
        Self { radio: SimRadio::new(profile, seed), org: OrganizationKey::generate(OrgId([7; 8]), &rng).unwrap() }
    }

    pub fn provisioning(&self, id: u8, lock: u32) -> Provisioning {
        Provisioning::generate(&self.org, ReaderId([id; 8]), LockId(lock), "Main entrance", &SystemRandom::new())
            .unwrap()
    }

    /// A tap-mode reader at the origin (or `position`).
    pub fn reader(&self, id: u8, lock: u32, position: Position) -> VirtualReader {
        self.reader_in(Mode::Tap, id, lock, position)
    }

    /// A reader in `mode` at `position`.
    pub fn reader_in(&self, mode: Mode, id: u8, lock: u32, position: Position) -> VirtualReader {
        let mut provisioning = self.provisioning(id, lock);
        provisioning.mode = mode;
        VirtualReader::spawn(&self.radio, &provisioning, VirtualReaderOptions::at(position, NOW)).unwrap()
    }

    pub fn phone(&self, position: Position, locks: &[u32]) -> Phone {
        let rng = SystemRandom::new();
        let device = SoftwareDeviceKey::generate(&rng).unwrap();
        let body = CredentialBody {
            id: CredentialId::random(&rng).unwrap(),
            org: OrgId([0; 8]),
            org_key: KeyId([0; 4]),
            member: MemberId([9; 16]),
            device_key: device.public_key(),
            validity: Validity { not_before: Timestamp(NOW.0 - 86_400), not_after: NOW.plus(30 * 86_400) },
            revocation_epoch: 0,
            locks: locks.iter().copied().map(LockId).collect(),
            owner_verified: false,
        };
        let credential = self.org.issue(body).unwrap();
        let sim = self.radio.add_central(position);
        Phone {
            central: Arc::new(sim.clone()),
            sim,
            device,
            credential,
            trust: vec![self.org.public()],
            secrets: HashMap::new(),
            selection_window: Duration::ZERO,
        }
    }
}

/// How an unlock failed, as the phone sees it.
#[derive(Debug)]
pub enum UnlockError {
    Ble(BleError),
    Protocol(ProtocolError),
    /// The reader refused in an answer it authenticated.
    Refused(Reason),
    /// The reader refused in the clear (a hint: tamper, distance, replay...).
    RefusedUnverified(Reason),
    NoReader,
}

impl From<BleError> for UnlockError {
    fn from(e: BleError) -> Self {
        UnlockError::Ble(e)
    }
}

impl From<ProtocolError> for UnlockError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::UnverifiedRejection(reason) => UnlockError::RefusedUnverified(reason),
            e => UnlockError::Protocol(e),
        }
    }
}

/// A successful unlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlocked {
    pub reader: ReaderId,
    pub peripheral: PeripheralId,
    pub exchange: ExchangeKind,
}

/// The phone-side test driver.
pub struct Phone {
    pub central: Arc<dyn Central>,
    pub sim: SimCentral,
    pub device: SoftwareDeviceKey,
    pub credential: Credential,
    pub trust: Vec<OrganizationPublicKey>,
    pub secrets: HashMap<ReaderId, FastSecret>,
    /// How long to keep listening after the first advertisement before picking the nearest
    /// reader; zero picks the first heard.
    pub selection_window: Duration,
}

/// One connection, opened lazily on the first request so the subscription and the request
/// share a connection event.
struct Conversation {
    link: Option<Box<dyn Link>>,
    channel: Option<MessageChannel>,
}

impl Conversation {
    async fn ask(&mut self, request: &[u8]) -> Result<Vec<u8>, UnlockError> {
        if let Some(link) = self.link.take() {
            self.channel = Some(MessageChannel::open(link, request).await?);
        } else if let Some(channel) = &self.channel {
            channel.send(request).await?;
        }
        let channel = self.channel.as_mut().ok_or(UnlockError::NoReader)?;
        Ok(tokio::time::timeout(REPLY_TIMEOUT, channel.receive()).await.map_err(|_| BleError::Timeout("reply"))??)
    }

    async fn close(self) {
        if let Some(channel) = self.channel {
            let _ = channel.close().await;
        }
    }
}

impl Phone {
    pub fn move_to(&self, position: Position) {
        self.sim.move_to(position);
    }

    /// Scans, picks the nearest reader, connects and unlocks: fast exchange when it holds a
    /// secret for the reader, else (or when the reader forgot it) a full one.
    pub async fn unlock(&mut self) -> Result<Unlocked, UnlockError> {
        let (peripheral, advertisement) = self.select().await?;
        let link = self.central.connect(&peripheral).await?;
        let mut conversation = Conversation { link: Some(link), channel: None };
        let result = self.exchange(&mut conversation, &advertisement).await;
        conversation.close().await;
        result.map(|exchange| Unlocked { reader: advertisement.reader, peripheral, exchange })
    }

    async fn select(&self) -> Result<(PeripheralId, Advertisement), UnlockError> {
        let mut scan = self.central.scan(ScanFilter::readers()).await?;
        let mut heard: Vec<(PeripheralId, Advertisement, Rssi)> = Vec::new();
        let first = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let event = scan.next().await?;
                if let Ok(ad) = event.advertisement() {
                    return Some((event.peripheral, ad, event.rssi));
                }
            }
        })
        .await
        .ok()
        .flatten()
        .ok_or(UnlockError::NoReader)?;
        heard.push(first);
        let deadline = tokio::time::Instant::now() + self.selection_window;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, scan.next()).await {
            if let Ok(ad) = event.advertisement() {
                heard.retain(|(p, _, _)| *p != event.peripheral);
                heard.push((event.peripheral, ad, event.rssi));
            }
        }
        self.central.stop_scan().await?;
        // Nearest = strongest signal relative to the reader's calibrated power; a reader heard
        // without RSSI only when no other was measured.
        let best = heard.into_iter().max_by_key(|(_, ad, rssi)| rssi.dbm().map(|dbm| dbm - i16::from(ad.tx_power)));
        best.map(|(p, ad, _)| (p, ad)).ok_or(UnlockError::NoReader)
    }

    async fn exchange(
        &mut self,
        conversation: &mut Conversation,
        advertisement: &Advertisement,
    ) -> Result<ExchangeKind, UnlockError> {
        let rng = SystemRandom::new();
        let fast = self.secrets.get(&advertisement.reader).map(|secret| (secret, &self.credential));
        let (exchange, hello) = Exchange::start(advertisement.reader, advertisement.nonce, fast, &rng)?;
        let reply = conversation.ask(&hello).await?;
        let mut outcome = match exchange.on_reply(&reply, &self.trust, &self.credential, &self.device)? {
            Step::Done(outcome) => outcome,
            Step::Authenticate(awaiting, auth) => {
                let result = conversation.ask(&auth).await?;
                awaiting.on_result(&result)?
            }
        };
        if let Some(secret) = outcome.fast_secret.take() {
            self.secrets.insert(advertisement.reader, secret);
        }
        let kind = outcome.kind;
        match outcome.reason {
            Reason::Granted => Ok(kind),
            reason => Err(UnlockError::Refused(reason)),
        }
    }
}

/// Every feedback event already published on `events`.
pub fn drain(events: &mut broadcast::Receiver<FeedbackEvent>) -> Vec<Feedback> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        out.push(event.feedback);
    }
    out
}
