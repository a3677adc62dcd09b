//! Credentials as administrators manage them: mobile keys (one per member and device), key fobs
//! and cards. Fobs and cards work under both unlock methods and for unconfirmed users.

use serde_json::json;
use sqlx::any::AnyRow;

use super::{
    Actor, RowExt, Store, audit, now,
    revocation::{self, Whose},
};
use crate::{
    Error, Result,
    api::{CredentialInfo, CredentialKind, CredentialStatus, NewCredential, Page, PageQuery},
    crypto, hex,
};

/// The columns [`credential_from_row`] reads.
pub(super) const CREDENTIAL_COLUMNS: &str =
    "id, member_id, kind, status, device_public_key, number, created_at, last_issued_at";

/// A credential from a row of [`CREDENTIAL_COLUMNS`].
pub(super) fn credential_from_row(row: &AnyRow) -> Result<CredentialInfo> {
    Ok(CredentialInfo {
        id: row.text("id")?,
        member_id: row.text("member_id")?,
        kind: CredentialKind::parse(&row.text("kind")?)?,
        status: CredentialStatus::parse(&row.text("status")?)?,
        device_public_key: row.opt_bytes("device_public_key")?.map(|k| hex::encode(&k)),
        number: row.opt_text("number")?,
        created_at: row.time("created_at")?,
        last_issued_at: row.opt_int("last_issued_at")?.and_then(|t| u32::try_from(t).ok()),
    })
}

impl Store {
    /// The organization's credentials, by id.
    pub async fn credentials(&self, org_id: &str, query: &PageQuery) -> Result<Page<CredentialInfo>> {
        let limit = query.limit()?;
        let rows = sqlx::query(
            "SELECT id, member_id, kind, status, device_public_key, number, created_at, last_issued_at \
             FROM credentials WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(org_id)
        .bind(query.after.clone().unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(credential_from_row).collect::<Result<Vec<_>>>()?;
        let next = audit::next_cursor(&items, limit, |c| c.id.clone());
        Ok(Page { items, next })
    }

    /// Registers a key fob or card for a user.
    pub async fn create_credential(
        &self,
        org_id: &str,
        actor: &Actor,
        member_id: &str,
        new: &NewCredential,
    ) -> Result<CredentialInfo> {
        if !matches!(new.kind, CredentialKind::KeyFob | CredentialKind::Card) {
            return Err(Error::invalid(
                "only key_fob and card credentials are registered here; mobile keys come from POST /v1/me/keys",
            ));
        }
        let number = crate::input::NUMBER.check("number", &new.number)?;
        self.user(org_id, member_id).await?;
        let id = crypto::random_id::<16>()?;
        let created_at = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO credentials (id, org_id, member_id, kind, status, number, created_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(member_id)
        .bind(new.kind.as_str())
        .bind(number)
        .bind(i64::from(created_at))
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            org_id,
            actor,
            "credential.created",
            &id,
            json!({"kind": new.kind, "member_id": member_id}),
        )
        .await?;
        tx.commit().await?;
        Ok(CredentialInfo {
            id,
            member_id: member_id.to_owned(),
            kind: new.kind,
            status: CredentialStatus::Active,
            device_public_key: None,
            number: Some(number.to_owned()),
            created_at,
            last_issued_at: None,
        })
    }

    /// Suspends or reactivates a credential.
    pub async fn set_credential_status(
        &self,
        org_id: &str,
        actor: &Actor,
        credential_id: &str,
        status: CredentialStatus,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE credentials SET status = $1 WHERE id = $2 AND org_id = $3")
            .bind(status.as_str())
            .bind(credential_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        if changed.rows_affected() == 0 {
            return Err(Error::NotFound("credential"));
        }
        if status == CredentialStatus::Suspended {
            revocation::revoke(&mut tx, self.backend, org_id, Whose::Binding(credential_id)).await?;
        }
        let action = match status {
            CredentialStatus::Active => "credential.resumed",
            CredentialStatus::Suspended => "credential.suspended",
        };
        audit::record(&mut tx, org_id, actor, action, credential_id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a credential. A deleted mobile key's device can ask for keys again (as a new
    /// binding); suspend it instead to keep it out.
    pub async fn delete_credential(&self, org_id: &str, actor: &Actor, credential_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Revoked before the row (and its issued credentials) go.
        sqlx::query("UPDATE organizations SET sync_generation = sync_generation + 1 WHERE id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        revocation::revoke(&mut tx, self.backend, org_id, Whose::Binding(credential_id)).await?;
        let deleted = sqlx::query("DELETE FROM credentials WHERE id = $1 AND org_id = $2")
            .bind(credential_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound("credential"));
        }
        audit::record(&mut tx, org_id, actor, "credential.deleted", credential_id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }
}
