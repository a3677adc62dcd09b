//! Every exchange message, as reassembled from ATT packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobile_access_protocol::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(message.encode().ok().as_deref(), Some(data));
    }
});
