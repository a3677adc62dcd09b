//! The access cloud's HTTP contract: every JSON body its routes take and give, defined once.
//!
//! The cloud serves these types, the SDK and the reader read and send them, and the cloud's
//! OpenAPI document is checked against them (every schema has its type's fields, every query
//! its parameters), so the three cannot drift apart unnoticed. Serde only: no server, client or
//! database code lives here.
//!
//! Conventions: byte strings are lowercase hex, times are Unix seconds. Request types reject
//! unknown fields, so a misspelt setting is a 400 instead of silently ignored; response types
//! accept unknown fields, so an older SDK keeps working against a newer cloud.

mod auth;
mod doors;
mod error;
mod events;
mod keys;
mod members;
mod organization;
mod outbox;
mod page;
mod reader;
mod remote;
mod switch_over;
mod text;
mod wallet;
mod whole;

pub use auth::{AcceptInvitation, Login, Role, TokenResponse};
pub use doors::{
    AccessGroup, DEFAULT_TAP_RSSI_THRESHOLD, DEFAULT_TX_POWER, Door, DoorPatch, NewAccessGroup, NewDoor, NewReader,
    ReaderFacts, ReaderMode,
};
pub use error::{ErrorBody, ErrorDetail};
pub use events::{EventUpload, UploadReport, UploadedEvent};
pub use keys::{Access, IssuedCredential, KeyBundle, KeyRequest};
pub use members::{
    CredentialInfo, CredentialKind, CredentialStatus, MemberStatus, MemberSync, NewCredential, SyncReport,
    SyncedMember, User,
};
pub use organization::{CreatedOrganization, Organization, Settings, SettingsPatch, TrustAnchor, UnlockMethod};
pub use outbox::{AuditEntry, MailState, OutboxMail};
pub use page::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page, PageQuery};
pub use reader::{Provisioning, ReaderSync};
pub use remote::{
    CommandKind, CommandOutcome, CommandPollQuery, CommandResult, MAX_ANNOUNCED_NONCES, MemberDoor, MemberDoors,
    Proximity, ReaderCommand, ReaderCommands, RemoteUnlock, RemoteUnlockRequest, RemoteUnlockResult,
};
pub use switch_over::{StartSwitch, SwitchJob, SwitchPreview, SwitchPreviewQuery};
pub use text::{OutOfRange, UnknownText};
pub use wallet::{
    NewWalletPass, WalletDevice, WalletEligibility, WalletPass, WalletPassAdded, WalletPassDevices, WalletPrerequisite,
    WalletProvisioning, WatchBinding,
};
