//! The JSON the HTTP API speaks, shared by the server, the CLI and in-process callers (the SDK's
//! tests, the desktop harness). Byte strings are lowercase hex, times Unix seconds.
//!
//! Request types reject unknown fields, so a misspelt setting is a 400 instead of silently
//! ignored.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Integers in request bodies as JSON Schema reads them: `5` and `5.0` are the same integer
/// (serde alone refuses the second, and a client in a language with one number type may send
/// it). A fraction, or a value out of the field's range, is refused.
mod whole {
    use serde::{Deserialize, Deserializer, de::Error as _};

    /// A whole number that fits `T`.
    pub fn number<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<T, D::Error> {
        let n = serde_json::Number::deserialize(deserializer)?;
        let whole = n.as_i64().or_else(|| {
            n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| {
                #[allow(clippy::cast_possible_truncation, reason = "whole and within ±2^53")]
                let i = f as i64;
                i
            })
        });
        whole
            .and_then(|i| T::try_from(i).ok())
            .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in this field's range")))
    }

    /// Same, or `null`.
    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
        #[derive(Deserialize)]
        struct Whole<T: TryFrom<i64>>(#[serde(deserialize_with = "number")] T);
        Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(value)| value))
    }
}

/// Declares a string enum stored as text in the database and spoken as the same text in JSON.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every text form, in declaration order: what the OpenAPI document lists.
            pub const TEXTS: &'static [&'static str] = &[$($text),+];

            /// The text form (JSON and database).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the text form read back from the database.
            pub fn from_db(text: &str) -> Result<Self> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(Error::Corrupt(format!(concat!("unknown ", stringify!($name), " {:?}"), other))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

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
    /// How a reader decides a phone is close enough.
    ReaderMode {
        /// The phone must touch the reader.
        Tap => "tap",
        /// Anywhere in radio range.
        Range => "range",
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

text_enum!(
    /// Who a bearer token speaks for.
    Role {
        /// An administrator of one organization.
        Admin => "admin",
        /// The workspace platform's integration for one organization.
        Integration => "integration",
        /// One member.
        Member => "member",
        /// One reader (its token comes with its provisioning; it polls its configuration and
        /// uploads its audit log).
        Reader => "reader",
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

/// What creating an organization needs (CLI and library; there is no HTTP route for it).
#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    /// Display name.
    pub name: String,
    /// When the integration was created; now if `None`. Before 2023-12-01 the default unlock
    /// method is `native`, from then on `branded_app`.
    pub created_at: Option<u32>,
    /// Overrides the default unlock method.
    pub unlock_method: Option<UnlockMethod>,
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

/// `POST /v1/admin/doors`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewDoor {
    /// Display name.
    pub name: String,
}

/// A door and the public facts of its readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Door {
    /// Door id (hex).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The protocol lock id (unique within the organization).
    pub lock: u32,
    /// Its readers.
    pub readers: Vec<ReaderFacts>,
}

/// What a phone may know about a reader before meeting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderFacts {
    /// Reader id (hex, 8 bytes), as the reader advertises it.
    pub reader_id: String,
    /// Hardware model, e.g. "Reader Pro 2.1".
    pub model: String,
    /// Tap or range.
    pub mode: ReaderMode,
    /// Whether the reader's tamper protection is on.
    pub tamper_protection: bool,
    /// RSSI (dBm) at tap distance.
    pub tap_rssi_threshold: i8,
    /// Calibrated transmit power at 1 m (dBm).
    pub tx_power: i8,
}

/// `POST /v1/admin/doors/{door_id}/readers`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewReader {
    /// Hardware model.
    pub model: String,
    /// Tap or range.
    pub mode: ReaderMode,
    /// Tamper protection on.
    pub tamper_protection: bool,
    /// Default -55 dBm.
    #[serde(default, deserialize_with = "whole::optional")]
    pub tap_rssi_threshold: Option<i8>,
    /// Default -59 dBm.
    #[serde(default, deserialize_with = "whole::optional")]
    pub tx_power: Option<i8>,
    /// How long the relay holds the door open; default 5000 ms.
    #[serde(default, deserialize_with = "whole::optional")]
    pub relay_open_ms: Option<u32>,
}

/// Everything a reader needs to be installed: the shared contract with the reader crate.
/// `reader_key_seed` is secret and returned only here, once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioning {
    /// Reader id (hex, 8 bytes).
    pub reader_id: String,
    /// The door's lock id.
    pub lock: u32,
    /// The door's name.
    pub door_name: String,
    /// Hardware model.
    pub model: String,
    /// Tap or range.
    pub mode: ReaderMode,
    /// RSSI at tap distance.
    pub tap_rssi_threshold: i8,
    /// Transmit power at 1 m.
    pub tx_power: i8,
    /// Tamper protection on.
    pub tamper_protection: bool,
    /// Relay open time.
    pub relay_open_ms: u32,
    /// SECRET: the reader's Ed25519 seed (hex, 32 bytes).
    pub reader_key_seed: String,
    /// Hex of `ReaderCertificate::encode()`.
    pub certificate: String,
    /// Keys the reader trusts.
    pub trust_anchors: Vec<TrustAnchor>,
    /// The organization's current revocation epoch.
    pub revocation_epoch: u32,
    /// SECRET: the reader's bearer token for `/v1/reader/*` (configuration and audit upload).
    pub reader_token: String,
}

impl std::fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioning")
            .field("reader_id", &self.reader_id)
            .field("lock", &self.lock)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/admin/access-groups`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessGroup {
    /// Name; what the integration assigns members by.
    pub name: String,
    /// Doors the group opens.
    #[serde(default)]
    pub door_ids: Vec<String>,
}

/// An access group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGroup {
    /// Group id (hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// Doors it opens.
    pub door_ids: Vec<String>,
}

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

/// A bearer token, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The token.
    pub token: String,
    /// When it stops working (Unix seconds), if it expires.
    pub expires_at: Option<u32>,
}

/// `GET /v1/me/access`: what the Key Button needs to decide what to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// `POST /v1/me/keys`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// The phone's P-256 public key, uncompressed SEC1 (65 bytes), hex.
    pub device_public_key: String,
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
    /// time that moves a lagging reader clock forward.
    pub revocation_list: String,
}

/// `GET /v1/reader/config`: what an online reader polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderSync {
    /// The calling reader (hex, 8 bytes).
    pub reader_id: String,
    /// Hex of the protocol's `SignedRevocationList`, signed now (its `issued_at` is the signed time).
    pub revocation_list: String,
    /// The cloud's clock.
    pub server_time: u32,
    /// Seconds until the reader should poll again.
    pub poll_secs: u32,
    /// Why listed credentials were revoked, where known (`pass_suspended`, `pass_deleted`,
    /// `pass_superseded`), by credential id: the list carries ids only, the reader logs and
    /// signals these reasons.
    #[serde(default)]
    pub revocation_reasons: std::collections::BTreeMap<String, String>,
}

/// One attempt or result recorded while offline, uploaded later. `event_id` is stable (chosen
/// where the event happened), so uploading it again is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UploadedEvent {
    /// Stable id, 1 to 100 characters; kept once per organization.
    pub event_id: String,
    /// When it happened (the recorder's clock).
    #[serde(deserialize_with = "whole::number")]
    pub at: u32,
    /// `granted`, `refused`, `interrupted` (readers) or the app's result (`unlocked`, `failed`).
    pub outcome: String,
    /// The reason code's name, if any (e.g. `revoked`).
    #[serde(default)]
    pub reason: Option<String>,
    /// `full` or `fast`.
    #[serde(default)]
    pub exchange: Option<String>,
    /// The credential presented (hex), if known.
    #[serde(default)]
    pub credential_id: Option<String>,
    /// The member (hex), if known.
    #[serde(default)]
    pub member_id: Option<String>,
    /// The reader (hex), for app events.
    #[serde(default)]
    pub reader_id: Option<String>,
    /// Signal strength the reader heard, dBm.
    #[serde(default, deserialize_with = "whole::optional")]
    pub rssi: Option<i16>,
}

/// `POST /v1/reader/events` and `POST /v1/me/events`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventUpload {
    /// At most 1000 events.
    pub events: Vec<UploadedEvent>,
}

/// What an upload kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReport {
    /// Events stored now.
    pub accepted: u32,
    /// Events already stored by an earlier upload (ignored).
    pub duplicates: u32,
}

/// `GET /v1/admin/switch-over/preview?to=`: what switching the unlock method would do.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchPreviewQuery {
    /// The method to switch to.
    pub to: Option<UnlockMethod>,
    /// Users listed per page (1 to 1000, default 100).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub after: Option<String>,
}

/// The preview of a switch: nothing has changed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchPreview {
    /// The current method.
    pub from: UnlockMethod,
    /// The method previewed.
    pub to: UnlockMethod,
    /// Users that will be deleted and recreated as confirmed, managed users (native → branded app).
    pub users_to_recreate: u32,
    /// Users left as they are.
    pub users_untouched: u32,
    /// Access group memberships the recreated users carry over.
    pub memberships_kept: u32,
    /// Key fobs the recreated users carry over.
    pub key_fobs_kept: u32,
    /// Cards the recreated users carry over.
    pub cards_kept: u32,
    /// Users that will get an invitation to set a password (branded app → native).
    pub invitations: u32,
    /// Welcome emails the switch will queue (the new method's default unless overridden).
    pub welcome_emails: u32,
    /// A page of the users to recreate (or invite), by member id.
    pub users: Vec<User>,
    /// Cursor of the next page of `users`.
    pub next: Option<String>,
}

/// `POST /v1/admin/switch-over`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartSwitch {
    /// The method to switch to.
    pub unlock_method: UnlockMethod,
    /// Overrides the new method's default welcome email setting.
    #[serde(default)]
    pub welcome_email: Option<bool>,
}

/// A switch-over job and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchJob {
    /// Job id.
    pub id: String,
    /// The method switched to.
    pub target: UnlockMethod,
    /// `running` or `done`.
    pub state: String,
    /// Users the job works on.
    pub total: u32,
    /// Users finished.
    pub done: u32,
    /// When it started.
    pub created_at: u32,
    /// When it finished.
    pub finished_at: Option<u32>,
}

/// `POST /v1/login`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Needed only when the email belongs to users of several organizations.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// `POST /v1/invitations/accept`: a native user confirms by setting a password.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The invitation token from the welcome email.
    pub token: String,
    /// The new password (at least 8 characters).
    pub password: String,
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

text_enum!(
    /// Where an outbox mail is in its delivery.
    MailState {
        /// Waiting for its (next) delivery attempt, or for an SMTP server to be configured.
        Queued => "queued",
        /// Accepted by the SMTP server.
        Sent => "sent",
        /// Refused for good (a permanent SMTP error, or every attempt failed): not retried.
        Failed => "failed",
    }
);

/// An email of the outbox, as administrators see it: who it is for, what it is and how its
/// delivery goes, never its body. Invitation mails carry a token that sets the member's password,
/// so only the member's mailbox ever sees a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMail {
    /// Sequence number.
    pub id: i64,
    /// Recipient member (may since have been removed).
    pub member_id: String,
    /// `welcome`, `invitation` or `access`.
    pub kind: String,
    /// Address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// When it was queued.
    pub created_at: u32,
    /// Queued, sent or failed.
    pub state: MailState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// While queued: when the next attempt is due.
    pub next_attempt_at: Option<u32>,
    /// When the SMTP server accepted it.
    pub sent_at: Option<u32>,
    /// Why the last attempt failed (the SMTP server's answer or the connection error).
    pub last_error: Option<String>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When.
    pub at: u32,
    /// Who: `admin`, `integration`, `member:<id>`, `operator`.
    pub actor: String,
    /// What, e.g. `keys.issued`.
    pub action: String,
    /// The object acted on.
    pub subject: String,
    /// Details.
    pub detail: serde_json::Value,
}

/// A page of a list. Pass `next` as `?after=` to get the following page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page, `None` on the last.
    pub next: Option<String>,
}

/// The most items one page may hold (`?limit=`).
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Items on a page without `?limit=`.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;

/// `?limit=&after=` of list routes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// At most this many items (1 to 1000, default 100).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// The effective limit.
    pub fn limit(&self) -> Result<i64> {
        match self.limit {
            None => Ok(i64::from(DEFAULT_PAGE_LIMIT)),
            Some(n @ 1..=MAX_PAGE_LIMIT) => Ok(i64::from(n)),
            Some(_) => Err(Error::invalid(format!("limit must be between 1 and {MAX_PAGE_LIMIT}"))),
        }
    }
}

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
