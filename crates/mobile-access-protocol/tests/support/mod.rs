//! Test fixtures: an organization, its readers and a member's phone, and drivers that run a
//! whole exchange while recording (and optionally tampering with) every message on the air.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use mobile_access_protocol::{
    Credential, CredentialBody, CredentialId, DeviceSigner, Error, LockId, MemberId, OrgId, OrganizationKey,
    OrganizationPublicKey, ReaderId, ReaderKey, Reason, SoftwareDeviceKey, Timestamp, UnlockMode, Validity,
    phone::{Exchange, FastSecret, Step},
    reader::{Connection, Decision, ReaderConfig, Responder},
};
use ring::rand::SystemRandom;

pub const NOW: Timestamp = Timestamp(1_800_000_000);
pub const DAY: u32 = 86_400;

pub fn rng() -> SystemRandom {
    SystemRandom::new()
}

pub fn org_key(org: [u8; 8]) -> OrganizationKey {
    OrganizationKey::generate(OrgId(org), &rng()).unwrap()
}

/// A reader on `lock`, certified by `org`, trusting `org`'s key.
pub fn reader(org: &OrganizationKey, id: u8, lock: u32) -> Responder {
    let key = ReaderKey::generate(&rng()).unwrap();
    let certificate = org.certify_reader(ReaderId([id; 8]), LockId(lock), key.public());
    let mut config = ReaderConfig::new(certificate, key, vec![org.public()]);
    config.mode = UnlockMode::Range;
    Responder::new(config, NOW, &rng()).unwrap()
}

/// A member's phone: its device key, its credential and the trust anchors that came with it.
pub struct Phone {
    pub device: SoftwareDeviceKey,
    pub credential: Credential,
    pub trust: Vec<OrganizationPublicKey>,
}

pub fn body(device: &SoftwareDeviceKey, member: u8, locks: &[u32], validity: Validity, epoch: u32) -> CredentialBody {
    CredentialBody {
        id: CredentialId::random(&rng()).unwrap(),
        org: OrgId([0; 8]),
        org_key: mobile_access_protocol::KeyId([0; 4]),
        member: MemberId([member; 16]),
        device_key: device.public_key(),
        validity,
        revocation_epoch: epoch,
        locks: locks.iter().copied().map(LockId).collect(),
        owner_verified: false,
    }
}

pub fn week() -> Validity {
    Validity { not_before: Timestamp(NOW.0 - DAY), not_after: NOW.plus(7 * DAY) }
}

pub fn phone(org: &OrganizationKey, member: u8, locks: &[u32]) -> Phone {
    let device = SoftwareDeviceKey::generate(&rng()).unwrap();
    let credential = org.issue(body(&device, member, locks, week(), 0)).unwrap();
    Phone { device, credential, trust: vec![org.public()] }
}

/// Where a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToReader,
    ToPhone,
}

/// Every message of one exchange, in order.
#[derive(Debug, Default, Clone)]
pub struct Air {
    pub messages: Vec<(Direction, Vec<u8>)>,
}

impl Air {
    pub fn from(&self, direction: Direction) -> Vec<&[u8]> {
        self.messages.iter().filter(|(d, _)| *d == direction).map(|(_, m)| m.as_slice()).collect()
    }
}

/// How both ends saw one exchange.
#[derive(Debug)]
pub struct Ends<T> {
    /// What the phone concluded.
    pub phone: Result<T, Error>,
    /// What the reader decided (None if it never got to decide).
    pub reader: Option<Decision>,
    pub air: Air,
}

impl<T> Ends<T> {
    pub fn reader_reason(&self) -> Option<Reason> {
        self.reader.as_ref().map(|d| d.reason)
    }
}

/// Lets a test change the `index`-th message (0-based, both directions) before it is delivered.
pub type Tamper<'a> = &'a mut dyn FnMut(usize, &mut Vec<u8>);

fn deliver(air: &mut Air, direction: Direction, mut bytes: Vec<u8>, tamper: Tamper<'_>) -> Vec<u8> {
    tamper(air.messages.len(), &mut bytes);
    air.messages.push((direction, bytes.clone()));
    bytes
}

pub fn full(
    phone: &Phone,
    signer: &dyn DeviceSigner,
    reader: &mut Responder,
    now: Timestamp,
) -> Ends<(Reason, Option<FastSecret>)> {
    full_tampered(phone, signer, reader, now, &mut |_, _| {})
}

pub fn full_tampered(
    phone: &Phone,
    signer: &dyn DeviceSigner,
    reader: &mut Responder,
    now: Timestamp,
    tamper: Tamper<'_>,
) -> Ends<(Reason, Option<FastSecret>)> {
    let rng = rng();
    let mut air = Air::default();
    let mut connection = Connection::default();
    let advertised = reader.advertisement(now, &rng).unwrap();
    let (exchange, hello) = Exchange::start(advertised.reader, advertised.nonce, None, &rng).unwrap();
    let hello = deliver(&mut air, Direction::ToReader, hello, tamper);
    let reply = reader.handle(&mut connection, &hello, now, &rng);
    let mut decision = reply.decision;
    let reader_hello = deliver(&mut air, Direction::ToPhone, reply.bytes, tamper);
    let phone_result = exchange
        .on_reader_hello(&reader_hello, &phone.trust, &phone.credential, signer)
        .and_then(|(awaiting, auth)| {
            let auth = deliver(&mut air, Direction::ToReader, auth, tamper);
            let reply = reader.handle(&mut connection, &auth, now, &rng);
            decision = reply.decision;
            let result = deliver(&mut air, Direction::ToPhone, reply.bytes, tamper);
            awaiting.on_result(&result)
        })
        .map(|outcome| (outcome.reason, outcome.fast_secret));
    Ends { phone: phone_result, reader: decision, air }
}

pub fn fast(secret: &FastSecret, credential: &Credential, reader: &mut Responder, now: Timestamp) -> Ends<Reason> {
    fast_tampered(secret, credential, reader, now, &mut |_, _| {})
}

pub fn fast_tampered(
    secret: &FastSecret,
    credential: &Credential,
    reader: &mut Responder,
    now: Timestamp,
    tamper: Tamper<'_>,
) -> Ends<Reason> {
    let rng = rng();
    let mut air = Air::default();
    let advertisement = reader.advertisement(now, &rng).unwrap();
    let (exchange, request) =
        match Exchange::start(advertisement.reader, advertisement.nonce, Some((secret, credential)), &rng) {
            Ok(started) => started,
            Err(e) => return Ends { phone: Err(e), reader: None, air },
        };
    let request = deliver(&mut air, Direction::ToReader, request, tamper);
    let reply = reader.handle(&mut Connection::default(), &request, now, &rng);
    let result = deliver(&mut air, Direction::ToPhone, reply.bytes, tamper);
    // Only the fast answer is read here: a reader hello (the reader went on to a full exchange)
    // is reported as such, and the phone would continue with `full`.
    let signer = SoftwareDeviceKey::generate(&rng).unwrap();
    let phone = match exchange.on_reply(&result, &[], credential, &signer) {
        Ok(Step::Done(outcome)) => Ok(outcome.reason),
        Ok(Step::Authenticate(..)) => unreachable!("no trust anchor: no full exchange"),
        Err(Error::ReaderNotGenuine(_)) => Err(Error::UnexpectedMessage(WENT_FULL)),
        Err(other) => Err(other),
    };
    Ends { phone, reader: reply.decision, air }
}

/// What [`fast`] reports when the reader answered the hello with its own (a full exchange):
/// the fast request was not accepted (unknown session, stale nonce, replay, damaged).
pub const WENT_FULL: &str = "ReaderHello: the reader went on to a full exchange";

/// True if `reply` is a reader hello: the reader did not take a fast request and started a full
/// exchange instead, deciding nothing yet.
pub fn went_full(reply: &mobile_access_protocol::reader::Reply) -> bool {
    reply.decision.is_none()
        && matches!(
            mobile_access_protocol::Message::decode(&reply.bytes),
            Ok(mobile_access_protocol::Message::ReaderHello { .. })
        )
}

/// A full exchange that must grant; returns the fast secret it leaves.
pub fn enrol(phone: &Phone, reader: &mut Responder, now: Timestamp) -> FastSecret {
    let ends = full(phone, &phone.device, reader, now);
    let (reason, secret) = ends.phone.unwrap();
    assert_eq!(reason, Reason::Granted);
    secret.unwrap()
}
