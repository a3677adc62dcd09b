//! A revocation list reaches a reader from the cloud and, sealed and padded, from any phone that
//! taps it: hostile bytes must never panic either decoder, and whatever decodes is exactly its
//! own canonical encoding (plus zero padding to its size class).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::{SignedRevocationList, unpad_list_delivery};

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = SignedRevocationList::decode(data) {
        assert_eq!(list.encoded(), data);
        assert!(list.list().revoked.windows(2).all(|w| w[0] < w[1]));
    }
    if let Ok(list) = unpad_list_delivery(data) {
        let (encoded, padding) = data.split_at(list.encoded().len());
        assert_eq!(list.encoded(), encoded);
        assert!(padding.iter().all(|&b| b == 0));
    }
});
