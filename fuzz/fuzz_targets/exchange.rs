//! Both ends of the exchange fed attacker bytes: the reader's responder (any request, any
//! order) and the phone's handling of a ReaderHello and of results. Nothing may panic, and no
//! forged input may make the phone accept an answer.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::{
    Credential, CredentialBody, CredentialId, DeviceSigner, LockId, MemberId, OrgId, OrganizationKey, ReaderId,
    ReaderKey, SoftwareDeviceKey, Timestamp, Validity,
    Nonce,
    phone::Exchange,
    reader::{Connection, ReaderConfig, Responder},
};
use ring::rand::SystemRandom;

struct Fixture {
    org: OrganizationKey,
    reader_seed: [u8; 32],
    device: SoftwareDeviceKey,
    credential: Credential,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rng = SystemRandom::new();
        let org = OrganizationKey::from_seed(OrgId([1; 8]), [7; 32]).expect("org key");
        let device = SoftwareDeviceKey::generate(&rng).expect("device key");
        let credential = org
            .issue(CredentialBody {
                id: CredentialId([2; 16]),
                org: OrgId([1; 8]),
                org_key: org.public().key_id,
                member: MemberId([3; 16]),
                device_key: device.public_key(),
                validity: Validity { not_before: Timestamp(0), not_after: Timestamp(u32::MAX) },
                revocation_epoch: 0,
                locks: vec![LockId(1)],
                owner_verified: false,
            })
            .expect("credential");
        Fixture { org, reader_seed: [9; 32], device, credential }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let rng = SystemRandom::new();
    let reader_key = ReaderKey::from_seed(f.reader_seed).expect("reader key");
    let certificate = f.org.certify_reader(ReaderId([4; 8]), LockId(1), reader_key.public());
    let mut responder =
        Responder::new(ReaderConfig::new(certificate, reader_key, vec![f.org.public()]), Timestamp(10), &rng)
            .expect("responder");
    let mut connection = Connection::default();
    // The reader: each 0xFF-separated chunk is one request on the same connection, or a sealed
    // revocation list handed over after an answer.
    for request in data.split(|&b| b == 0xFF) {
        if mobile_access_protocol::is_list_delivery(request) {
            assert!(responder.open_list_delivery(&mut connection, request).is_err(), "a forged list opened");
            continue;
        }
        let reply = responder.handle(&mut connection, request, Timestamp(10), &rng);
        assert!(!reply.decision.is_some_and(|d| d.reason.is_granted()), "granted on fuzzed bytes");
    }
    // The phone: the input as the reader's first answer can never pass the reader's proof.
    let (exchange, _hello) = Exchange::start(ReaderId([4; 8]), Nonce([0; 8]), None, &rng).expect("start");
    assert!(exchange.on_reply(data, &[f.org.public()], &f.credential, &f.device).is_err());
});
