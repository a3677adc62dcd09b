//! Reader certificates arrive from the air in every ReaderHello.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::ReaderCertificate;

fuzz_target!(|data: &[u8]| {
    if let Ok(certificate) = ReaderCertificate::decode(data) {
        assert_eq!(certificate.encode(), data);
    }
});
