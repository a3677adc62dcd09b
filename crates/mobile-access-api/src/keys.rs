//! What the Key Button asks the cloud: the member's access and the keys that open their doors offline.

use serde::{Deserialize, Serialize};

use crate::{Door, MemberStatus, RemoteUnlock, TrustAnchor, UnlockMethod};

/// `GET /v1/me/access`: what the Key Button needs to decide what to show.
///
/// Its `Debug` leaves out who the member is (id and name), so a log line never says it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Member id (hex).
    pub member_id: String,
    /// Display name.
    pub name: String,
    /// The organization's mobile access module.
    pub mobile_access_enabled: bool,
    /// The member's access group names.
    pub access_groups: Vec<String>,
    /// The Key Button is shown only with an access group.
    pub has_access_group: bool,
    /// Only confirmed users get mobile keys.
    pub status: MemberStatus,
    /// Managed by the integration (branded app).
    pub managed: bool,
    /// The organization's unlock method.
    pub unlock_method: UnlockMethod,
    /// Lifetime of keys issued now.
    pub key_validity_secs: u32,
    /// Whether the organization lets members open doors over the network: the Key Button falls
    /// back to it only where this allows (absent from an older cloud: off).
    #[serde(default)]
    pub remote_unlock: RemoteUnlock,
    /// Whether the organization lets members unlock hands-free at doors that allow it (absent
    /// from an older cloud: off).
    #[serde(default)]
    pub hands_free: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("member_id", &"<redacted>")
            .field("mobile_access_enabled", &self.mobile_access_enabled)
            .field("access_groups", &self.access_groups.len())
            .field("has_access_group", &self.has_access_group)
            .field("status", &self.status)
            .field("managed", &self.managed)
            .field("unlock_method", &self.unlock_method)
            .field("key_validity_secs", &self.key_validity_secs)
            .field("remote_unlock", &self.remote_unlock)
            .field("hands_free", &self.hands_free)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Whether the member may see the Key Button (on the home screen): the module is on and
    /// they have an access group.
    pub fn allows_key_button(&self) -> bool {
        self.mobile_access_enabled && self.has_access_group
    }
}

/// `POST /v1/me/keys`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// The phone's P-256 public key, uncompressed SEC1 (65 bytes), hex.
    pub device_public_key: String,
    /// The phone's owner key (uncompressed SEC1 P-256, hex), where the app has one: a second
    /// key its OS releases only after biometric or passcode. Doors that require owner
    /// verification get credentials bound to it; without it, the bundle opens none of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_public_key: Option<String>,
}

/// One signed credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCredential {
    /// Credential id (hex, 16 bytes).
    pub id: String,
    /// Hex of `Credential::encoded()`.
    pub credential: String,
    /// First valid second.
    pub not_before: u32,
    /// First second after validity.
    pub not_after: u32,
    /// Locks it opens, ascending.
    pub locks: Vec<u32>,
    /// Bound to the phone's owner key (for doors that require owner verification), not to
    /// its device key (absent from an older cloud: false).
    #[serde(default)]
    pub owner_verified: bool,
}

/// The answer to `POST /v1/me/keys`: everything the phone needs to open its doors offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBundle {
    /// One credential per 20 locks.
    pub credentials: Vec<IssuedCredential>,
    /// Keys to check readers' certificates against.
    pub trust_anchors: Vec<TrustAnchor>,
    /// The doors the credentials open, with their readers.
    pub doors: Vec<Door>,
    /// The cloud's clock, so the phone can notice its own is off.
    pub server_time: u32,
    /// Hex of the protocol's `SignedRevocationList`, signed now: the phone writes it to every
    /// reader it taps so offline readers learn of revocations, and its `issued_at` is the signed
    /// time that moves a lagging reader clock forward. Empty from clouds that send none.
    #[serde(default)]
    pub revocation_list: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::ReaderMode;

    /// A key bundle exactly as SDKs stored it before the contract was shared (their own reader
    /// type had no threshold or transmit power, and clouds before revocation lists sent none):
    /// a phone updating its app must keep opening doors offline with it.
    #[test]
    fn a_key_bundle_stored_by_an_older_sdk_still_loads() {
        let stored = r#"{"credentials":[{"id":"00112233445566778899aabbccddeeff","credential":"01","not_before":1,"not_after":2,"locks":[7]}],
            "trust_anchors":[{"org":"0011223344556677","public_key":"aa"}],
            "doors":[{"id":"d1","name":"Front door","lock":7,"readers":[{"reader_id":"0102030405060708","model":"Reader Pro 2.1","mode":"tap","tamper_protection":true}]}],
            "server_time":5}"#;
        let bundle: KeyBundle = serde_json::from_str(stored).unwrap();
        let reader = &bundle.doors[0].readers[0];
        assert_eq!(reader.mode, ReaderMode::Tap);
        assert_eq!(reader.tap_rssi_threshold, crate::DEFAULT_TAP_RSSI_THRESHOLD);
        assert_eq!(reader.tx_power, crate::DEFAULT_TX_POWER);
        assert_eq!(bundle.revocation_list, "");
        // And what this SDK stores reads back the same.
        let again: KeyBundle = serde_json::from_str(&serde_json::to_string(&bundle).unwrap()).unwrap();
        assert_eq!(again, bundle);
    }

    #[test]
    fn access_debug_never_says_who_the_member_is() {
        let access = Access {
            member_id: "4d656d6265722d6964".to_owned(),
            name: "Ada Lovelace".to_owned(),
            mobile_access_enabled: true,
            access_groups: vec!["Staff".to_owned()],
            has_access_group: true,
            status: MemberStatus::Confirmed,
            managed: true,
            unlock_method: UnlockMethod::BrandedApp,
            key_validity_secs: 86_400,
            remote_unlock: crate::RemoteUnlock::Allowed,
            hands_free: false,
        };
        let printed = format!("{access:?}");
        assert!(!printed.contains("Ada") && !printed.contains("4d656d6265722d6964") && !printed.contains("Staff"));
        assert!(access.allows_key_button());
        assert!(!Access { has_access_group: false, ..access.clone() }.allows_key_button());
        assert!(!Access { mobile_access_enabled: false, ..access }.allows_key_button());
    }
}
