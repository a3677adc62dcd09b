//! Credentials arrive from the network (key download) and, decrypted, from the air.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::Credential;

fuzz_target!(|data: &[u8]| {
    if let Ok(credential) = Credential::decode(data) {
        // Canonical: what decodes re-encodes to exactly the same bytes.
        assert_eq!(credential.encoded(), data);
    }
});
