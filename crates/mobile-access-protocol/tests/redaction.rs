//! No debug output carries a member id or key material: a `{:?}` in a log line, a panic message
//! or a crash report must not say who unlocked, nor leak a secret.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_protocol::{MemberId, OrgId, OrganizationKey, ReaderKey};
use support::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Member ids as debug would print them in hex or as a decimal byte list.
fn leaks_member(debug: &str, member: &MemberId) -> bool {
    let decimal = member.0.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
    debug.contains(&hex(&member.0)) || debug.contains(&decimal)
}

#[test]
fn credentials_and_member_ids_never_show_the_member_in_debug_output() {
    let org = org_key([1; 8]);
    let phone = phone(&org, 0x5a, &[42]);
    let member = phone.credential.body().member;
    for debug in [
        format!("{:?}", phone.credential),
        format!("{:?}", phone.credential.body()),
        format!("{member:?}"),
        format!("{:?}", Some(member)),
    ] {
        assert!(!leaks_member(&debug, &member), "member id in debug output: {debug}");
    }
    // Display is the explicit way to name a member, where a record must.
    assert_eq!(member.to_string(), hex(&member.0));
}

#[test]
fn key_types_never_show_their_secret_in_debug_output() {
    let org = OrganizationKey::from_seed(OrgId([1; 8]), [0x11; 32]).unwrap();
    let reader = ReaderKey::from_seed([0x22; 32]).unwrap();
    for (debug, seed) in [(format!("{org:?}"), [0x11u8; 32]), (format!("{reader:?}"), [0x22u8; 32])] {
        assert!(
            !debug.contains(&hex(&seed)) && !debug.contains("17, 17, 17") && !debug.contains("34, 34, 34"),
            "{debug}"
        );
    }
    let secret = full_exchange_secret();
    let debug = format!("{secret:?}");
    let bytes = secret.to_bytes();
    assert!(!debug.contains(&hex(&bytes[24..])), "{debug}");
}

fn full_exchange_secret() -> mobile_access_protocol::phone::FastSecret {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 42);
    let phone = phone(&org, 1, &[42]);
    enrol(&phone, &mut door, NOW)
}
