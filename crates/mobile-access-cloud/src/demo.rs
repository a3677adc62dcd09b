//! The demo organization: members of every kind, groups, doors and readers, for developers and
//! the desktop harness. `seed-demo --json` prints [`DemoSeed`].
//!
//! The organization's integration predates December 2023, so it started under `native`; one
//! member was synced then and is still `not_confirmed`. It then switched to `branded_app`, so
//! everyone synced later is confirmed and managed, and the unconfirmed member shows the
//! refusal the branded app must explain.

use serde::{Deserialize, Serialize};

use crate::{
    Result,
    api::{
        CredentialKind, MemberStatus, MemberSync, NewAccessGroup, NewCredential, NewDoor, NewOrganization, NewReader,
        Provisioning, ReaderMode, SettingsPatch, SyncedMember, TrustAnchor, UnlockMethod,
    },
    store::{Actor, Store},
};

/// 2023-06-01: before the branded-app default.
const DEMO_CREATED_AT: u32 = 1_685_577_600;

/// A demo member and their session token.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoMember {
    /// Display name.
    pub name: String,
    /// The platform's id.
    pub external_id: String,
    /// The cloud's id.
    pub member_id: String,
    /// `confirmed` or `not_confirmed`.
    pub status: MemberStatus,
    /// Group names.
    pub access_groups: Vec<String>,
    /// Member session token.
    pub token: String,
}

/// The demo organization's console administrator: sign in at `/console` with these.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct DemoAdmin {
    /// Sign-in email.
    pub email: String,
    /// SECRET: the sign-in password (random per seed).
    pub password: String,
}

/// The demo's console administrator.
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.example";

/// Everything the demo created, with the secrets needed to drive it.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoSeed {
    /// The demo organization.
    pub org_id: String,
    /// Admin token.
    pub admin_token: String,
    /// Integration token.
    pub integration_token: String,
    /// The organization's trust anchor.
    pub trust_anchor: TrustAnchor,
    /// Members: confirmed with groups, confirmed without, and not confirmed.
    pub members: Vec<DemoMember>,
    /// Reader provisioning objects (with their secret seeds), for virtual readers.
    pub readers: Vec<Provisioning>,
    /// The web console's administrator.
    #[serde(default)]
    pub console_admin: DemoAdmin,
}

/// Names and groups only: no token, and no member id.
impl std::fmt::Debug for DemoMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoMember")
            .field("name", &self.name)
            .field("status", &self.status)
            .field("access_groups", &self.access_groups)
            .finish_non_exhaustive()
    }
}

/// No token: members as above, readers as their (seed-redacting) provisioning.
impl std::fmt::Debug for DemoSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoSeed")
            .field("org_id", &self.org_id)
            .field("members", &self.members)
            .field("readers", &self.readers)
            .finish_non_exhaustive()
    }
}

fn member(external_id: &str, name: &str, groups: &[&str]) -> SyncedMember {
    SyncedMember {
        external_id: external_id.to_owned(),
        name: name.to_owned(),
        email: format!("{}@demo.example", external_id.replace('_', ".")),
        access_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        removed: false,
    }
}

/// Creates a new demo organization in `store`. `progress` is told each step.
pub async fn seed(store: &Store, mut progress: impl FnMut(&str)) -> Result<DemoSeed> {
    let op = Actor::Operator;
    progress("creating the organization");
    let created = store
        .create_organization(NewOrganization {
            name: "Demo Coworking".to_owned(),
            created_at: Some(DEMO_CREATED_AT),
            unlock_method: None,
        })
        .await?;
    let org = created.organization.id.clone();

    progress("creating doors and provisioning readers");
    let door = |name: &str| NewDoor { name: name.to_owned(), owner_verification: false, hands_free: false };
    let main = store.create_door(&org, &op, &door("Main entrance")).await?;
    let meeting = store.create_door(&org, &op, &door("Meeting room")).await?;
    let server = store.create_door(&org, &op, &door("Server room")).await?;
    let reader = |model: &str, mode, tamper_protection| NewReader {
        model: model.to_owned(),
        mode,
        tamper_protection,
        tap_rssi_threshold: None,
        tx_power: None,
        relay_open_ms: None,
    };
    let readers = vec![
        store.provision_reader(&org, &op, &main.id, &reader("Reader Pro 2.1", ReaderMode::Tap, true)).await?,
        store.provision_reader(&org, &op, &meeting.id, &reader("Reader Pro 2", ReaderMode::Range, false)).await?,
        store.provision_reader(&org, &op, &server.id, &reader("Reader Pro 2.1", ReaderMode::Tap, true)).await?,
    ];

    progress("creating access groups");
    let group = |name: &str, doors: Vec<String>| NewAccessGroup { name: name.to_owned(), door_ids: doors };
    store.create_access_group(&org, &op, &group("Members", vec![main.id.clone(), meeting.id.clone()])).await?;
    store.create_access_group(&org, &op, &group("Staff", vec![main.id, meeting.id, server.id])).await?;

    progress("syncing members (native, then branded app)");
    let integration = Actor::Integration;
    let early = vec![member("una_unconfirmed", "Una Unconfirmed", &["Members"])];
    store.sync_members(&org, &integration, &MemberSync { members: early.clone() }).await?;
    let patch = SettingsPatch {
        unlock_method: Some(UnlockMethod::BrandedApp),
        invitation_mail: Some(true),
        // Wallet passes' organization prerequisites (the main entrance and server room readers
        // are Reader Pro 2.1 with tamper protection on).
        sso_mfa: Some(true),
        wallet_pass_subscription: Some(true),
        ..SettingsPatch::default()
    };
    store.update_settings(&org, &op, &patch).await?;
    let later = vec![
        member("ada_member", "Ada Member", &["Members"]),
        member("grace_staff", "Grace Staff", &["Members", "Staff"]),
        member("nick_nogroup", "Nick Nogroup", &[]),
    ];
    store.sync_members(&org, &integration, &MemberSync { members: later.clone() }).await?;

    progress("opening member sessions");
    let mut members = Vec::new();
    for synced in early.iter().chain(&later) {
        let token = store.create_member_session(&org, &integration, &synced.external_id).await?.token;
        let users = store.users(&org, &crate::api::PageQuery { limit: Some(1000), after: None }).await?;
        let Some(user) = users.items.into_iter().find(|u| u.external_id.as_deref() == Some(&synced.external_id)) else {
            continue;
        };
        members.push(DemoMember {
            name: user.name,
            external_id: synced.external_id.clone(),
            member_id: user.member_id,
            status: user.status,
            access_groups: user.access_groups,
            token,
        });
    }
    if let Some(nick) = members.iter().find(|m| m.external_id == "nick_nogroup") {
        // Fobs work without an access group in the app, under either unlock method.
        let fob = NewCredential { kind: CredentialKind::KeyFob, number: "FOB-0042".to_owned() };
        store.create_credential(&org, &op, &nick.member_id, &fob).await?;
    }
    progress("adding the console's administrator");
    let password = crate::crypto::random_id::<12>()?;
    // A database seeded twice has a demo organization already: its administrator keeps the plain
    // address, this one's names its organization.
    let admin_email = match store.create_console_admin(&org, DEMO_ADMIN_EMAIL, "Demo Administrator", &password).await {
        Err(crate::Error::Conflict(_)) => {
            let email = format!("admin+{org}@demo.example");
            store.create_console_admin(&org, &email, "Demo Administrator", &password).await?;
            email
        }
        other => other.map(|_| DEMO_ADMIN_EMAIL.to_owned())?,
    };
    progress("done");
    Ok(DemoSeed {
        org_id: org,
        admin_token: created.admin_token,
        integration_token: created.integration_token,
        trust_anchor: created.organization.trust_anchor,
        members,
        readers,
        console_admin: DemoAdmin { email: admin_email, password },
    })
}
