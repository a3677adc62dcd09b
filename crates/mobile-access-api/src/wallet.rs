//! Wallet passes: eligibility, the self-service add, and what the app hands to the wallet.

use serde::{Deserialize, Serialize};

use crate::text::text_enum;

use crate::{CredentialStatus, IssuedCredential, TrustAnchor};

text_enum!(
    /// A prerequisite of wallet passes, as the eligibility answer names it when unmet.
    WalletPrerequisite {
        /// The organization uses single sign-on with multi-factor authentication.
        SsoMfa => "sso_mfa",
        /// The organization's wallet pass subscription is active.
        Subscription => "wallet_pass_subscription",
        /// At least one door has a Reader Pro 2.1 with tamper protection on.
        EligibleReader => "eligible_reader",
        /// The iPhone runs iOS 17 or later.
        IosVersion => "ios_version",
        /// The app is version 46.0 or later.
        AppVersion => "app_version",
    }
);

text_enum!(
    /// Where a wallet pass's Apple Watch stands after an add.
    WatchBinding {
        /// No watch was paired with the iPhone.
        NoWatch => "none",
        /// The watch was unlocked during the add: the pass lives on it too.
        Bound => "bound",
        /// The watch was locked during the add: the pass is not on it; add the pass again with the
        /// watch unlocked.
        AddAgain => "add_again",
    }
);

/// `POST /v1/me/wallet/eligibility`: what the iOS app knows about the device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WalletDevice {
    /// The iPhone's iOS version, e.g. "17.4".
    pub ios_version: String,
    /// The app's version, e.g. "46.2".
    pub app_version: String,
}

/// Whether the member may add a wallet pass, with every unmet prerequisite (not just the first).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WalletEligibility {
    /// True when nothing is unmet: the app offers "Add to Wallet".
    pub eligible: bool,
    /// Each unmet prerequisite, in the order the product lists them.
    pub unmet: Vec<WalletPrerequisite>,
    /// One sentence per unmet prerequisite, for the app to show.
    pub messages: Vec<String>,
}

/// `POST /v1/me/wallet/passes`: a member adds a pass for themselves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewWalletPass {
    /// The iPhone's iOS version.
    pub ios_version: String,
    /// The app's version.
    pub app_version: String,
    /// The iPhone's device identifier (as the wallet reports it).
    pub iphone_device_id: String,
    /// The pass's key in the iPhone's secure element: an uncompressed P-256 public key (hex, 65 bytes).
    pub secure_element_public_key: String,
    /// The paired Apple Watch's device identifier, if there is one.
    #[serde(default)]
    pub watch_device_id: Option<String>,
    /// Whether the watch was unlocked during the add (only then does the pass reach it).
    #[serde(default)]
    pub watch_unlocked: bool,
}

/// The devices a pass is active on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WalletPassDevices {
    /// The iPhone.
    pub iphone: String,
    /// The Apple Watch, if bound.
    pub watch: Option<String>,
}

/// A wallet pass as members and administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WalletPass {
    /// The pass (its `credentials.id`).
    pub id: String,
    /// Whose pass.
    pub member_id: String,
    /// Active or suspended.
    pub status: CredentialStatus,
    /// Where it is active.
    pub devices: WalletPassDevices,
    /// The locks it opens (empty: the member has no permission on a door that takes passes).
    pub locks: Vec<u32>,
    /// When it was added.
    pub added_at: u32,
}

/// What the iOS app hands to the wallet. Here a plain JSON object; a real deployment signs it as
/// a PKPass and provisions it through Apple's access-pass flow, which needs Apple entitlements.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WalletProvisioning {
    /// Format tag: `mobile-access/wallet-pass/v1`.
    pub format: String,
    /// The organization's name, shown on the pass.
    pub organization: String,
    /// The member's name, shown on the pass.
    pub member_name: String,
    /// The signed credentials the pass presents (bound to the secure-element key; none if the
    /// member has no permission on a door that takes passes).
    pub credentials: Vec<IssuedCredential>,
    /// Keys the pass checks readers' certificates against.
    pub trust_anchors: Vec<TrustAnchor>,
    /// The only unlock method a pass supports.
    pub unlock: String,
}

/// The answer to `POST /v1/me/wallet/passes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WalletPassAdded {
    /// The pass as recorded.
    pub pass: WalletPass,
    /// Where the watch stands.
    pub watch: WatchBinding,
    /// Passes this add replaced (the previous iPhone's pass and its watch), now refused by readers.
    pub superseded: Vec<String>,
    /// What to tell the member (no permission, watch to add again), if anything.
    pub notes: Vec<String>,
    /// What the app hands to the wallet.
    pub provisioning: WalletProvisioning,
}
