//! Advertising data is the first thing a phone reads from the air, from any device nearby.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::Advertisement;

fuzz_target!(|data: &[u8]| {
    if let Ok(advertisement) = Advertisement::decode_payload(data) {
        assert_eq!(&advertisement.encode_payload()[..], data);
    }
    let _ = Advertisement::decode_ad(data);
});
