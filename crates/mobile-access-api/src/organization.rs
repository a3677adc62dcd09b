//! An organization, its integration settings and the key readers and phones trust it by.

use serde::{Deserialize, Serialize};

use crate::text::text_enum;

use crate::whole;

text_enum!(
    /// How the organization's members unlock, as the workspace platform's integration setting.
    UnlockMethod {
        /// The access vendor's own app: users start `not_confirmed` and confirm by setting a
        /// password through their invitation.
        Native => "native",
        /// The operator's branded app: users are created `confirmed` and `managed`, password
        /// login is refused.
        BrandedApp => "branded_app",
    }
);

/// An organization's integration settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// How members unlock.
    pub unlock_method: UnlockMethod,
    /// Queue an access email each time a user gains a new access group.
    pub invitation_mail: bool,
    /// Queue a welcome email when a user is created (on by default under `native` only).
    pub welcome_email: bool,
    /// The mobile access module of the branded app.
    pub mobile_access_enabled: bool,
    /// Lifetime of issued mobile keys, in seconds (default 86 400, one day).
    pub key_validity_secs: u32,
    /// Members sign in by single sign-on with multi-factor authentication (a wallet pass
    /// prerequisite: a pass opens doors without the app, so the account behind it must be strong).
    pub sso_mfa: bool,
    /// The organization's wallet pass subscription is active (a wallet pass prerequisite).
    pub wallet_pass_subscription: bool,
    /// Whether members may unlock over the network (see [`crate::RemoteUnlock`]).
    #[serde(default)]
    pub remote_unlock: crate::RemoteUnlock,
    /// Whether members may unlock hands-free (the phone opens a door it stays near, without a
    /// tap) at doors that allow it, with range readers only (absent from an older cloud: off).
    #[serde(default)]
    pub hands_free: bool,
}

/// `PATCH /v1/admin/settings`: only the fields present change. Changing `unlock_method` without
/// giving `welcome_email` also resets `welcome_email` to the new method's default.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// New unlock method.
    pub unlock_method: Option<UnlockMethod>,
    /// New invitation mail setting.
    pub invitation_mail: Option<bool>,
    /// New welcome email setting.
    pub welcome_email: Option<bool>,
    /// New module switch.
    pub mobile_access_enabled: Option<bool>,
    /// New key lifetime (60 s to 30 days).
    #[serde(default, deserialize_with = "whole::optional")]
    pub key_validity_secs: Option<u32>,
    /// Single sign-on with multi-factor authentication on or off.
    pub sso_mfa: Option<bool>,
    /// Wallet pass subscription active or not.
    pub wallet_pass_subscription: Option<bool>,
    /// New remote unlock policy.
    pub remote_unlock: Option<crate::RemoteUnlock>,
    /// Hands-free unlocking allowed or not.
    pub hands_free: Option<bool>,
}

/// An organization's public key, which readers and phones trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustAnchor {
    /// Organization id (hex, 8 bytes).
    pub org: String,
    /// Ed25519 public key (hex, 32 bytes).
    pub public_key: String,
}

/// An organization as its administrator sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    /// Hex, 8 bytes: the protocol's `OrgId`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// When the integration was created (decides the default unlock method).
    pub created_at: u32,
    /// Integration settings.
    #[serde(flatten)]
    pub settings: Settings,
    /// Credentials and readers carry it; readers refuse credentials below the epoch they know.
    pub revocation_epoch: u32,
    /// The organization's signing key.
    pub trust_anchor: TrustAnchor,
}

/// A new organization and its two tokens (shown once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedOrganization {
    /// The organization.
    pub organization: Organization,
    /// Bearer token for `/v1/admin/*`.
    pub admin_token: String,
    /// Bearer token for `/v1/integration/*`.
    pub integration_token: String,
}
