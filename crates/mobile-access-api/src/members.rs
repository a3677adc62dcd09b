//! Access users as administrators and the workspace platform's integration see them, and their fobs and cards.

use serde::{Deserialize, Serialize};

use crate::text::text_enum;

text_enum!(
    /// Whether an access user may unlock with a mobile key.
    MemberStatus {
        /// Can get mobile keys.
        Confirmed => "confirmed",
        /// Must confirm first (native: set a password; branded app: be recreated by the integration).
        NotConfirmed => "not_confirmed",
    }
);

text_enum!(
    /// The kinds of credential an access user can hold.
    CredentialKind {
        /// A key on a phone, bound to its device key; issued by `POST /v1/me/keys`.
        MobileKey => "mobile_key",
        /// A key fob; works under both unlock methods.
        KeyFob => "key_fob",
        /// An access card; works under both unlock methods.
        Card => "card",
        /// A wallet pass (Apple Wallet on an iPhone and its Watch), added by the member with
        /// `POST /v1/me/wallet/passes`; presented by NFC tap only.
        WalletPass => "wallet_pass",
    }
);

text_enum!(
    /// Whether a credential may be used.
    CredentialStatus {
        /// Usable.
        Active => "active",
        /// Suspended by an administrator; a suspended mobile key gets no new keys.
        Suspended => "suspended",
    }
);

/// An access user as the administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Member id (hex, 16 bytes): the protocol's `MemberId`.
    pub member_id: String,
    /// The workspace platform's id for the member.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Confirmed or not.
    pub status: MemberStatus,
    /// Created and managed by the integration for the branded app.
    pub managed: bool,
    /// Names of the member's access groups.
    pub access_groups: Vec<String>,
    /// Creation time.
    pub created_at: u32,
}

/// `PUT /v1/integration/members`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSync {
    /// Members to create, update or (with `removed`) delete. Members not listed are untouched.
    pub members: Vec<SyncedMember>,
}

/// One member as the workspace platform knows it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncedMember {
    /// The platform's id; the key of the upsert.
    pub external_id: String,
    /// Display name (required unless `removed`).
    #[serde(default)]
    pub name: String,
    /// Email (required unless `removed`).
    #[serde(default)]
    pub email: String,
    /// The member's complete set of access group names after this call.
    #[serde(default)]
    pub access_groups: Vec<String>,
    /// Delete the member, their credentials and sessions.
    #[serde(default)]
    pub removed: bool,
}

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Members created.
    pub created: u32,
    /// Members whose name, email or groups changed.
    pub updated: u32,
    /// Members listed but already up to date.
    pub unchanged: u32,
    /// Members deleted.
    pub removed: u32,
    /// Welcome emails queued.
    pub welcome_emails: u32,
    /// Access emails queued (invitation mail setting).
    pub access_emails: u32,
}

/// A credential as the administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    /// Credential id (hex).
    pub id: String,
    /// Holder.
    pub member_id: String,
    /// Mobile key, key fob, card.
    pub kind: CredentialKind,
    /// Active or suspended.
    pub status: CredentialStatus,
    /// Mobile keys: the device key (hex).
    pub device_public_key: Option<String>,
    /// Fobs and cards: the printed number.
    pub number: Option<String>,
    /// Creation time.
    pub created_at: u32,
    /// Mobile keys: when keys were last issued for the device.
    pub last_issued_at: Option<u32>,
}

/// `POST /v1/admin/users/{member_id}/credentials`: register a key fob or card.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// `key_fob` or `card`.
    pub kind: CredentialKind,
    /// The printed number.
    pub number: String,
}
