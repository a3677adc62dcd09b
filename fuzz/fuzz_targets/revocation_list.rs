//! A revocation list reaches a reader from any phone that taps it: hostile bytes must never
//! panic the decoder, and whatever decodes is exactly its own canonical encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::SignedRevocationList;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = SignedRevocationList::decode(data) {
        assert_eq!(list.encoded(), data);
        assert!(list.list().revoked.windows(2).all(|w| w[0] < w[1]));
    }
});
