//! The provisioning contract shared with the access cloud.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use mobile_access_protocol::{LockId, OrgId, OrganizationKey, ReaderId};
use mobile_access_reader::{Error, Mode, Provisioning};
use proptest::prelude::*;
use ring::rand::SystemRandom;

fn provisioning() -> (OrganizationKey, Provisioning) {
    let rng = SystemRandom::new();
    let org = OrganizationKey::generate(OrgId([1, 2, 3, 4, 5, 6, 7, 8]), &rng).unwrap();
    let p = Provisioning::generate(&org, ReaderId([0xab; 8]), LockId(42), "Main entrance", &rng).unwrap();
    (org, p)
}

#[test]
fn the_contract_json_round_trips_with_exactly_its_fields_in_lowercase_hex() {
    let (_, p) = provisioning();
    let json = p.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "certificate",
            "door_name",
            "lock",
            "mode",
            "model",
            "reader_id",
            "reader_key_seed",
            "relay_open_ms",
            "revocation_epoch",
            "tamper_protection",
            "tap_rssi_threshold",
            "trust_anchors",
            "tx_power"
        ]
    );
    assert_eq!(value["reader_id"], "abababababababab");
    assert_eq!(value["mode"], "tap");
    assert_eq!(value["trust_anchors"][0]["org"], "0102030405060708");
    assert_eq!(Provisioning::from_json(&json).unwrap(), p);
    p.reader_key().unwrap();
}

#[test]
fn the_seed_never_shows_in_debug_output() {
    let (_, p) = provisioning();
    let seed_hex: String = p.reader_key_seed.0.iter().map(|b| format!("{b:02x}")).collect();
    let debug = format!("{p:?}");
    assert!(!debug.contains(&seed_hex));
    assert!(debug.contains("redacted"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let (_, p) = provisioning();
    let json = p.to_json().unwrap();
    let upper = json.replace("abababababababab", "ABABABABABABABAB");
    assert!(matches!(Provisioning::from_json(&upper), Err(Error::Json(m)) if m.contains("reader_id")));
    let mode = json.replace("\"tap\"", "\"proximity\"");
    assert!(matches!(Provisioning::from_json(&mode), Err(Error::Json(_))));
    assert!(matches!(Provisioning::from_json("{}"), Err(Error::Json(_))));

    let mut other_lock = p.clone();
    other_lock.lock = LockId(43);
    assert_eq!(other_lock.reader_key().err(), Some(Error::Inconsistent("certificate names another lock")));
    let mut untrusted = p.clone();
    let stranger = OrganizationKey::generate(OrgId([9; 8]), &SystemRandom::new()).unwrap();
    untrusted.trust_anchors[0].public_key = stranger.public().key;
    assert_eq!(
        untrusted.reader_key().err(),
        Some(Error::Inconsistent("no trust anchor signed the reader certificate"))
    );
    let mut range = p;
    range.mode = Mode::Range;
    assert_eq!(Provisioning::from_json(&range.to_json().unwrap()).unwrap().mode, Mode::Range);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(text in "\\PC{0,200}") {
        let _ = Provisioning::from_json(&text);
    }

    #[test]
    fn every_tunable_round_trips(threshold in any::<i8>(), tx in any::<i8>(), relay in any::<u32>(), epoch in any::<u32>(), tamper in any::<bool>()) {
        let (_, mut p) = provisioning();
        p.tap_rssi_threshold = threshold;
        p.tx_power = tx;
        p.relay_open_ms = relay;
        p.revocation_epoch = epoch;
        p.tamper_protection = tamper;
        prop_assert_eq!(Provisioning::from_json(&p.to_json().unwrap()).unwrap(), p);
    }
}
