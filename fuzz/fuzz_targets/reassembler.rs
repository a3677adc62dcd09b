//! ATT payloads straight from the air: the first byte picks how the rest is cut into packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::framing::{MAX_MESSAGE_LEN, Reassembler};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let mut reassembler = Reassembler::new();
    for packet in rest.chunks(usize::from(cut).max(1)) {
        if let Ok(Some(message)) = reassembler.push(packet) {
            assert!(message.len() <= MAX_MESSAGE_LEN);
        }
    }
});
