//! Property tests of every encoder/decoder and of the framing: round trips, canonical sizes,
//! and random bytes that must never panic a decoder.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_protocol::{
    ADVERTISEMENT_AD_LEN, Advertisement, CREDENTIAL_MAX_LEN, CREDENTIAL_MIN_LEN, Credential, CredentialBody,
    CredentialId, Error, KeyId, LockId, MAX_LOCKS, MemberId, Message, MessageType, Nonce, OrgId, OrganizationKey,
    ReaderCertificate, ReaderId, Reason, SoftwareDeviceKey, Timestamp, UnlockMode, Validity,
    framing::{self, MAX_MESSAGE_LEN, Reassembler},
};
use proptest::{collection::btree_set, prelude::*};
use support::rng;

fn device_key() -> &'static SoftwareDeviceKey {
    static KEY: std::sync::OnceLock<SoftwareDeviceKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| SoftwareDeviceKey::generate(&rng()).unwrap())
}

prop_compose! {
    fn credential_body()(
        id in any::<[u8; 16]>(),
        member in any::<[u8; 16]>(),
        not_before in any::<u32>(),
        span in 1u32..=u32::MAX,
        epoch in any::<u32>(),
        locks in btree_set(any::<u32>(), 1..=MAX_LOCKS),
        owner_verified in any::<bool>(),
    ) -> CredentialBody {
        use mobile_access_protocol::DeviceSigner;
        CredentialBody {
            id: CredentialId(id),
            org: OrgId([0; 8]),
            org_key: KeyId([0; 4]),
            member: MemberId(member),
            device_key: device_key().public_key(),
            validity: Validity { not_before: Timestamp(not_before), not_after: Timestamp(not_before.saturating_add(span).max(not_before + 1)) },
            revocation_epoch: epoch,
            locks: locks.into_iter().map(LockId).collect(),
            owner_verified,
        }
    }
}

fn advertisement() -> impl Strategy<Value = Advertisement> {
    (any::<[u8; 8]>(), any::<[u8; 8]>(), any::<bool>(), any::<i8>(), any::<i8>()).prop_map(
        |(reader, nonce, range, threshold, tx)| Advertisement {
            reader: ReaderId(reader),
            nonce: Nonce(nonce),
            mode: if range { UnlockMode::Range } else { UnlockMode::Tap },
            tap_rssi_threshold: threshold,
            tx_power: tx,
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    let reason = proptest::sample::select(Reason::ALL.iter().copied().filter(|r| !r.is_granted()).collect::<Vec<_>>());
    prop_oneof![
        (any::<[u8; 32]>(), any::<[u8; 8]>(), any::<[u8; 16]>(), any::<[u8; 17]>()).prop_map(
            |(phone_ephemeral, n, phone_nonce, fast)| Message::Hello {
                phone_ephemeral,
                reader_nonce: Nonce(n),
                phone_nonce,
                fast
            }
        ),
        (any::<[u8; 32]>(), any::<[u8; 8]>(), any::<u32>(), any::<[u8; 32]>(), any::<[u8; 64]>()).prop_map(
            |(reader_ephemeral, reader, lock, key, signature)| Message::ReaderHello {
                reader_ephemeral,
                list_sequence: lock.rotate_left(7),
                reader_time: Timestamp(lock ^ 0x5a5a),
                certificate: ReaderCertificate {
                    reader: ReaderId(reader),
                    org: OrgId([3; 8]),
                    org_key: KeyId([4; 4]),
                    lock: LockId(lock),
                    reader_key: key,
                    signature,
                },
                signature,
            }
        ),
        proptest::collection::vec(any::<u8>(), MessageType::FullAuth.encoded_len() - 2)
            .prop_map(|sealed| Message::FullAuth { sealed }),
        any::<[u8; 21]>().prop_map(|sealed| Message::FullResult { sealed }),
        any::<[u8; 21]>().prop_map(|sealed| Message::FastResult { sealed }),
        reason.prop_map(|reason| Message::Rejected { reason }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn credentials_round_trip_within_their_size_limits(body in credential_body(), seed in any::<[u8; 32]>()) {
        let org = OrganizationKey::from_seed(OrgId([9; 8]), seed).unwrap();
        let credential = org.issue(body).unwrap();
        let bytes = credential.encoded();
        prop_assert!((CREDENTIAL_MIN_LEN..=CREDENTIAL_MAX_LEN).contains(&bytes.len()));
        let decoded = Credential::decode(bytes).unwrap();
        prop_assert_eq!(&decoded, &credential);
        prop_assert!(decoded.verify(&org.public()));
        // Any extension is refused rather than ignored.
        let extended = [bytes, &[0][..]].concat();
        let refused = matches!(Credential::decode(&extended), Err(Error::TrailingBytes { .. }));
        prop_assert!(refused);
    }

    #[test]
    fn certificates_round_trip(reader in any::<[u8; 8]>(), lock in any::<u32>(), key in any::<[u8; 32]>(), seed in any::<[u8; 32]>()) {
        let org = OrganizationKey::from_seed(OrgId([9; 8]), seed).unwrap();
        let certificate = org.certify_reader(ReaderId(reader), LockId(lock), key);
        let decoded = ReaderCertificate::decode(&certificate.encode()).unwrap();
        prop_assert!(decoded.verify(&org.public()));
        prop_assert_eq!(decoded, certificate);
    }

    #[test]
    fn advertisements_round_trip_and_fit_legacy_advertising(ad in advertisement()) {
        let bytes = ad.encode_ad();
        prop_assert_eq!(bytes.len(), ADVERTISEMENT_AD_LEN);
        prop_assert!(bytes.len() <= 31);
        prop_assert_eq!(Advertisement::decode_ad(&bytes).unwrap(), ad);
        prop_assert_eq!(Advertisement::decode_payload(&ad.encode_payload()).unwrap(), ad);
    }

    #[test]
    fn messages_round_trip_at_their_one_length(message in message()) {
        let bytes = message.encode().unwrap();
        prop_assert_eq!(bytes.len(), message.message_type().encoded_len());
        prop_assert_eq!(Message::decode(&bytes).unwrap(), message);
    }

    #[test]
    fn fragments_reassemble_for_every_mtu(
        message in proptest::collection::vec(any::<u8>(), 0..=MAX_MESSAGE_LEN),
        mtu in framing::MIN_MTU..=framing::MAX_MTU,
    ) {
        let packets = framing::fragment(&message, mtu).unwrap();
        prop_assert_eq!(packets.len(), framing::packet_count(message.len(), mtu).unwrap());
        let mut reassembler = Reassembler::new();
        let (last, init) = packets.split_last().unwrap();
        for packet in init {
            prop_assert!(packet.len() <= usize::from(mtu) - 3);
            prop_assert_eq!(reassembler.push(packet).unwrap(), None);
        }
        prop_assert_eq!(reassembler.push(last).unwrap(), Some(message.clone()));
        // The reassembler is ready for the next message straight away.
        prop_assert_eq!(reassembler.push(&packets[0]).unwrap().is_some(), packets.len() == 1);
    }

    #[test]
    fn a_lost_fragment_is_refused_and_the_next_message_still_arrives(
        message in proptest::collection::vec(any::<u8>(), 200..=MAX_MESSAGE_LEN),
        mtu in 23u16..=100,
        skip in any::<proptest::sample::Index>(),
    ) {
        let packets = framing::fragment(&message, mtu).unwrap();
        let skip = skip.index(packets.len() - 1) + 1;
        let mut reassembler = Reassembler::new();
        let mut refused = false;
        for (i, packet) in packets.iter().enumerate() {
            if i == skip { continue; }
            match reassembler.push(packet) {
                Err(Error::FragmentSequence { .. }) => { refused = true; break; }
                Ok(Some(_)) => prop_assert!(false, "message completed with a fragment missing"),
                other => prop_assert!(other.is_ok()),
            }
        }
        // Losing the last fragment leaves the message incomplete; losing any other is detected.
        prop_assert_eq!(refused, skip != packets.len() - 1);
        let mut result = None;
        for packet in &packets {
            result = reassembler.push(packet).unwrap();
        }
        prop_assert_eq!(result, Some(message));
    }

    #[test]
    fn random_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Credential::decode(&bytes);
        let _ = ReaderCertificate::decode(&bytes);
        let _ = Advertisement::decode_ad(&bytes);
        let _ = Advertisement::decode_payload(&bytes);
        let _ = Message::decode(&bytes);
        let _ = mobile_access_protocol::phone::FastSecret::from_bytes(&bytes);
        let mut reassembler = Reassembler::new();
        for chunk in bytes.chunks(20) {
            let _ = reassembler.push(chunk);
        }
    }

    #[test]
    fn random_bytes_with_a_valid_header_never_panic_a_decoder(
        kind in proptest::sample::select(MessageType::ALL.to_vec()),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let bytes = [&[1u8, kind as u8][..], &body].concat();
        if let Ok(message) = Message::decode(&bytes) {
            prop_assert_eq!(message.encode().unwrap(), bytes);
        }
    }
}

#[test]
fn reason_codes_round_trip_and_have_hints() {
    for reason in Reason::ALL {
        assert_eq!(Reason::from_code(*reason as u8), Some(*reason));
        assert!(!reason.hint().is_empty());
    }
    assert_eq!(Reason::from_code(0xEE), None);
}

#[test]
fn bad_input_gets_a_typed_error_that_says_what_was_wrong() {
    assert!(matches!(Credential::decode(&[1, 2, 3]), Err(Error::Truncated { what: "credential", .. })));
    assert!(matches!(Message::decode(&[2, 1]), Err(Error::UnsupportedVersion { version: 2, .. })));
    assert!(matches!(Message::decode(&[1, 0x55]), Err(Error::UnknownMessageType(0x55))));
    assert_eq!(framing::fragment(&[0; 10], 22).unwrap_err(), Error::InvalidMtu(22));
    let too_long = framing::MAX_MESSAGE_LEN + 1;
    assert!(matches!(framing::fragment(&vec![0; too_long], 185), Err(Error::TooLarge { .. })));
    let mut reassembler = Reassembler::new();
    let [hi, lo] = (too_long as u16).to_be_bytes();
    assert!(matches!(reassembler.push(&[0, hi, lo]), Err(Error::TooLarge { got, .. }) if got == too_long));
}

#[test]
fn unsorted_or_duplicate_locks_are_not_canonical() {
    let org = OrganizationKey::from_seed(OrgId([9; 8]), [1; 32]).unwrap();
    let mut body = support::body(device_key(), 1, &[5, 3], support::week(), 0);
    assert!(matches!(org.issue(body.clone()), Err(Error::NonCanonical(_))));
    body.locks = vec![LockId(3), LockId(3)];
    assert!(matches!(org.issue(body.clone()), Err(Error::NonCanonical(_))));
    body.locks = (0..=MAX_LOCKS as u32).map(LockId).collect();
    assert!(matches!(org.issue(body), Err(Error::TooLarge { .. })));
}
