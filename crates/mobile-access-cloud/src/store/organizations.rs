//! Organizations: their integration settings and their signing key.

use std::sync::Arc;

use mobile_access_protocol::{OrgId, OrganizationKey};
use serde_json::json;
use sqlx::any::AnyRow;
use zeroize::Zeroize as _;

use super::{Actor, RowExt, Store, audit, flag, now, tokens};
use crate::{
    Error, Result,
    api::{
        CreatedOrganization, NewOrganization, Organization, RemoteUnlock, Role, Settings, SettingsPatch, TrustAnchor,
        UnlockMethod,
    },
    crypto, hex,
};

/// Integrations created from this instant on (2023-12-01T00:00:00Z) default to the branded app.
pub const BRANDED_APP_DEFAULT_FROM: u32 = 1_701_388_800;
/// Default lifetime of a mobile key: one day.
pub const DEFAULT_KEY_VALIDITY_SECS: u32 = 86_400;
/// An organization row's columns; a signer's row (see [`Store::signer_from_row`]) has these
/// and `signing_key_sealed`.
pub(super) const ORG_COLUMNS: &str = "id, name, created_at, unlock_method, invitation_mail, welcome_email, \
    mobile_access_enabled, key_validity_secs, revocation_epoch, signing_public_key, sso_mfa, \
    wallet_pass_subscription, remote_unlock, hands_free";

/// The product's rules for each unlock method (the method itself is part of the HTTP contract;
/// what it implies is the cloud's to decide).
pub trait UnlockMethodRules: Sized {
    /// The unlock method a new integration gets: `native` before December 2023, else the
    /// branded app.
    fn default_for(created_at: u32) -> Self;

    /// Whether the welcome email is on by default under this method.
    fn welcome_email_default(self) -> bool;

    /// Whether new users are created confirmed (and managed).
    fn creates_confirmed_users(self) -> bool;
}

impl UnlockMethodRules for UnlockMethod {
    fn default_for(created_at: u32) -> Self {
        if created_at < BRANDED_APP_DEFAULT_FROM { Self::Native } else { Self::BrandedApp }
    }

    fn welcome_email_default(self) -> bool {
        self == Self::Native
    }

    fn creates_confirmed_users(self) -> bool {
        self == Self::BrandedApp
    }
}

fn signing_key_context(org_id: &str) -> String {
    format!("organizations.signing_key:{org_id}")
}

/// What issuing needs to know about an organization, signing key included.
pub(super) struct Signer {
    pub key: Arc<OrganizationKey>,
    pub organization: Organization,
}

fn organization_from_row(row: &AnyRow) -> Result<Organization> {
    let id = row.text("id")?;
    let public_key = row.bytes("signing_public_key")?;
    Ok(Organization {
        trust_anchor: TrustAnchor { org: id.clone(), public_key: hex::encode(&public_key) },
        id,
        name: row.text("name")?,
        created_at: row.time("created_at")?,
        settings: Settings {
            unlock_method: UnlockMethod::parse(&row.text("unlock_method")?)?,
            invitation_mail: row.flag("invitation_mail")?,
            welcome_email: row.flag("welcome_email")?,
            mobile_access_enabled: row.flag("mobile_access_enabled")?,
            key_validity_secs: row.u32("key_validity_secs")?,
            sso_mfa: row.flag("sso_mfa")?,
            wallet_pass_subscription: row.flag("wallet_pass_subscription")?,
            remote_unlock: RemoteUnlock::parse(&row.text("remote_unlock")?)?,
            hands_free: row.flag("hands_free")?,
        },
        revocation_epoch: row.u32("revocation_epoch")?,
    })
}

/// The organization id as the protocol's type.
pub(super) fn org_id_bytes(id: &str) -> Result<OrgId> {
    hex::decode_array(id).map(OrgId).ok_or_else(|| Error::Corrupt(format!("organization id {id:?}")))
}

impl Store {
    /// Creates an organization with a fresh signing key, default settings for its creation date,
    /// and an admin and an integration token.
    pub async fn create_organization(&self, new: NewOrganization) -> Result<CreatedOrganization> {
        let name = crate::input::NAME.check("the organization name", &new.name)?;
        let created_at = new.created_at.unwrap_or_else(now);
        let unlock_method = new.unlock_method.unwrap_or(UnlockMethod::default_for(created_at));
        let id_bytes: [u8; 8] = crypto::random_array()?;
        let id = hex::encode(&id_bytes);
        let key = OrganizationKey::from_seed(OrgId(id_bytes), crypto::random_array()?)?;
        let sealed = self.master.seal(&signing_key_context(&id), key.seed())?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO organizations (id, name, created_at, unlock_method, invitation_mail, welcome_email, \
             mobile_access_enabled, key_validity_secs, signing_key_sealed, signing_public_key) \
             VALUES ($1, $2, $3, $4, 0, $5, 1, $6, $7, $8)",
        )
        .bind(&id)
        .bind(name)
        .bind(i64::from(created_at))
        .bind(unlock_method.as_str())
        .bind(flag(unlock_method.welcome_email_default()))
        .bind(i64::from(DEFAULT_KEY_VALIDITY_SECS))
        .bind(sealed)
        .bind(key.public().key.to_vec())
        .execute(&mut *tx)
        .await?;
        let admin_token = tokens::create(&mut tx, &id, Role::Admin, None, None).await?;
        let integration_token = tokens::create(&mut tx, &id, Role::Integration, None, None).await?;
        audit::record(&mut tx, &id, &Actor::Operator, "organization.created", &id, json!({"name": name})).await?;
        tx.commit().await?;
        Ok(CreatedOrganization { organization: self.organization(&id).await?, admin_token, integration_token })
    }

    /// One organization.
    pub async fn organization(&self, org_id: &str) -> Result<Organization> {
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"))
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound("organization"))?;
        organization_from_row(&row)
    }

    /// Every organization (operator CLI).
    pub async fn organizations(&self) -> Result<Vec<Organization>> {
        let rows = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM organizations ORDER BY name, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(organization_from_row).collect()
    }

    /// Applies a settings change and records it in the audit log.
    pub async fn update_settings(&self, org_id: &str, actor: &Actor, patch: &SettingsPatch) -> Result<Settings> {
        let (shortest, longest) = crate::input::KEY_VALIDITY_SECS;
        if let Some(secs) = patch.key_validity_secs
            && !(shortest..=longest).contains(&secs)
        {
            return Err(Error::invalid(format!("key_validity_secs must be between {shortest} and {longest}")));
        }
        let mut settings = self.organization(org_id).await?.settings;
        let method_changed = patch.unlock_method.is_some_and(|m| m != settings.unlock_method);
        if let Some(method) = patch.unlock_method {
            settings.unlock_method = method;
            if method_changed && patch.welcome_email.is_none() {
                settings.welcome_email = method.welcome_email_default();
            }
        }
        settings.invitation_mail = patch.invitation_mail.unwrap_or(settings.invitation_mail);
        settings.welcome_email = patch.welcome_email.unwrap_or(settings.welcome_email);
        settings.mobile_access_enabled = patch.mobile_access_enabled.unwrap_or(settings.mobile_access_enabled);
        settings.key_validity_secs = patch.key_validity_secs.unwrap_or(settings.key_validity_secs);
        settings.sso_mfa = patch.sso_mfa.unwrap_or(settings.sso_mfa);
        settings.wallet_pass_subscription = patch.wallet_pass_subscription.unwrap_or(settings.wallet_pass_subscription);
        settings.remote_unlock = patch.remote_unlock.unwrap_or(settings.remote_unlock);
        settings.hands_free = patch.hands_free.unwrap_or(settings.hands_free);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE organizations SET unlock_method = $1, invitation_mail = $2, welcome_email = $3, \
             mobile_access_enabled = $4, key_validity_secs = $5, \
             unlock_method_changed_at = CASE WHEN $6 = 1 THEN $7 ELSE unlock_method_changed_at END, \
             sso_mfa = $9, wallet_pass_subscription = $10, remote_unlock = $11, hands_free = $12 WHERE id = $8",
        )
        .bind(settings.unlock_method.as_str())
        .bind(flag(settings.invitation_mail))
        .bind(flag(settings.welcome_email))
        .bind(flag(settings.mobile_access_enabled))
        .bind(i64::from(settings.key_validity_secs))
        .bind(flag(method_changed))
        .bind(i64::from(now()))
        .bind(org_id)
        .bind(flag(settings.sso_mfa))
        .bind(flag(settings.wallet_pass_subscription))
        .bind(settings.remote_unlock.as_str())
        .bind(flag(settings.hands_free))
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::to_value(&settings).unwrap_or_default();
        audit::record(&mut tx, org_id, actor, "settings.updated", org_id, detail).await?;
        tx.commit().await?;
        Ok(settings)
    }

    /// The organization and its signing key, unsealed.
    pub(super) async fn signer(&self, org_id: &str) -> Result<Signer> {
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS}, signing_key_sealed FROM organizations WHERE id = $1"))
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound("organization"))?;
        self.signer_from_row(&row)
    }

    /// The signer of an organization row holding [`ORG_COLUMNS`] and `signing_key_sealed`: its key unsealed from the
    /// row's sealed seed, or taken from the keys already unsealed from those bytes.
    pub(super) fn signer_from_row(&self, row: &AnyRow) -> Result<Signer> {
        let organization = organization_from_row(row)?;
        let org_id = &organization.id;
        let sealed = row.bytes("signing_key_sealed")?;
        let key = self.signing_keys.get(org_id, &sealed, || {
            let mut seed = self.master.open(&signing_key_context(org_id), &sealed)?;
            let array: Option<[u8; 32]> = seed.as_slice().try_into().ok();
            seed.zeroize();
            let seed = array.ok_or_else(|| Error::Corrupt("signing key seed length".to_owned()))?;
            Ok(OrganizationKey::from_seed(org_id_bytes(org_id)?, seed)?)
        })?;
        Ok(Signer { key, organization })
    }
}
