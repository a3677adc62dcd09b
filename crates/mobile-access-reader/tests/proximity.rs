//! The reader's proximity policy on its own, for every RSSI: what a tap reader refuses, what a
//! range reader lets through, and what the audit log keeps.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::Instant;

use mobile_access_ble::sim::RadioProfile;
use mobile_access_protocol::{Nonce, Reason, phone::Exchange, reader::Connection};
use mobile_access_reader::{DriftingClock, Mode, Outcome, Reader};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use support::{NOW, World};

fn reader(world: &World, mode: Mode, threshold: i8) -> Reader {
    let mut provisioning = world.provisioning(1, 42);
    provisioning.mode = mode;
    provisioning.tap_rssi_threshold = threshold;
    let now = Instant::now();
    Reader::new(&provisioning, DriftingClock::new(now, NOW, 0), now).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A tap reader refuses `NotCloseEnough` exactly when it hears the phone below its threshold
    /// or cannot measure it at all (fails closed); a range reader never refuses for distance.
    /// Refusals are logged with the RSSI as heard, unknown included.
    #[test]
    fn a_tap_reader_refuses_below_its_threshold_or_without_a_measurement(
        tap in any::<bool>(),
        threshold in -100i8..-20,
        rssi in prop::option::of(any::<i16>()),
    ) {
        let world = World::new(RadioProfile::android(), 0);
        let mode = if tap { Mode::Tap } else { Mode::Range };
        let mut reader = reader(&world, mode, threshold);
        let (_, hello) = Exchange::start(reader.id(), Nonce([0; 8]), None, &SystemRandom::new()).unwrap();
        let now = Instant::now();
        let answer = reader.handle(&mut Connection::default(), &hello, rssi, now);
        let too_far = tap && rssi.is_none_or(|dbm| dbm < i16::from(threshold));
        match answer.pending {
            Some(pending) => {
                prop_assert!(too_far, "refused {:?} at {rssi:?}", pending.reason());
                prop_assert_eq!(pending.reason(), Reason::NotCloseEnough);
                reader.conclude(pending, true, now);
                let logged = reader.audit().last().unwrap();
                prop_assert_eq!(logged.outcome, Outcome::Refused(Reason::NotCloseEnough));
                prop_assert_eq!(logged.rssi, rssi);
                prop_assert!(!reader.relay_is_open());
            }
            // The hello was answered: the exchange goes on.
            None => prop_assert!(!too_far, "a {mode:?} reader let a phone at {rssi:?} through"),
        }
    }
}
