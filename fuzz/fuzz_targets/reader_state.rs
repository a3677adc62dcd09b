//! A reader's state file comes from its disk, which may be torn, bit-rotted or replaced: hostile
//! bytes must never panic the decoder, and whatever decodes re-encodes to exactly those bytes.
//! The input is tried as a whole file and, so the fuzzer reaches the body decoder behind the
//! checksum, as a body wrapped in a valid header and checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_reader::ReaderState;
use ring::digest;

fn check(bytes: &[u8]) {
    if let Ok(state) = ReaderState::decode(bytes) {
        assert_eq!(state.encode(), bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut file = b"MARS\x01".to_vec();
    file.extend_from_slice(&(data.len() as u32).to_be_bytes());
    file.extend_from_slice(data);
    let checksum = digest::digest(&digest::SHA256, &file);
    file.extend_from_slice(checksum.as_ref());
    check(&file);
});
