//! Wallet passes: eligibility, the member's self-service add with its device binding (one iPhone,
//! at most one Apple Watch; a new iPhone supersedes the previous pass), and what administrators do
//! with passes (list, suspend, resume, delete).
//!
//! A pass is a credential (`credentials.kind = 'wallet_pass'`) bound to a key in the iPhone's
//! secure element, listing only the locks of doors whose readers take passes (a Reader Pro 2.1
//! with tamper protection on) that the member's access groups open. It works without the app, so
//! it lives long ([`PASS_VALIDITY_SECS`]) and is stopped by revocation: a suspended, deleted or
//! superseded pass goes on the signed revocation list with its reason, which online readers learn
//! from their configuration poll.

use std::collections::BTreeMap;

use mobile_access_protocol::{LockId, Timestamp, Validity};
use serde_json::json;
use sqlx::AnyConnection;

use super::{
    Actor, RowExt, Store, audit,
    keys::{CLOCK_SKEW_SECS, member_id_bytes},
    now,
    revocation::{self, Whose},
};
use crate::{
    Error, Refusal, Result,
    api::{
        CredentialStatus, Door, NewWalletPass, WalletDevice, WalletEligibility, WalletPass, WalletPassAdded,
        WalletPassDevices, WalletPrerequisite, WalletProvisioning, WatchBinding,
    },
    crypto,
};

/// How long a pass's credentials are valid: a year. The pass works without the app, which would
/// otherwise renew short keys; revocation stops it sooner.
pub const PASS_VALIDITY_SECS: u32 = 365 * 86_400;
/// The reader model that takes passes.
pub const PASS_READER_MODEL: &str = "Reader Pro 2.1";
/// Oldest iOS that supports the passes: 17.
pub const MIN_IOS: [u32; 2] = [17, 0];
/// Oldest app that can add them: 46.0.
pub const MIN_APP: [u32; 2] = [46, 0];
const PROVISIONING_FORMAT: &str = "mobile-access/wallet-pass/v1";

/// Why a pass was revoked, as readers are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassRevocation {
    Suspended,
    Deleted,
    Superseded,
}

impl PassRevocation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Suspended => "pass_suspended",
            Self::Deleted => "pass_deleted",
            Self::Superseded => "pass_superseded",
        }
    }
}

/// Parses "17", "17.4" or "17.4.1" into numbers (compared numerically, so "46.10" > "46.9").
fn parse_version(field: &str, text: &str) -> Result<Vec<u32>> {
    crate::input::version(text)
        .ok_or_else(|| Error::invalid(format!("{field} must be a version like 17.4 (numbers separated by dots)")))
}

/// `version >= minimum`, missing components counting as 0.
fn at_least(version: &[u32], minimum: &[u32]) -> bool {
    let len = version.len().max(minimum.len());
    let pad = |v: &[u32]| (0..len).map(|i| v.get(i).copied().unwrap_or(0)).collect::<Vec<_>>();
    pad(version) >= pad(minimum)
}

fn message(prerequisite: WalletPrerequisite) -> &'static str {
    match prerequisite {
        WalletPrerequisite::SsoMfa => "the organization must use single sign-on with multi-factor authentication",
        WalletPrerequisite::Subscription => "the organization's wallet pass subscription is not active",
        WalletPrerequisite::EligibleReader => {
            "no door has a Reader Pro 2.1 with tamper protection on, so no door could take a pass"
        }
        WalletPrerequisite::IosVersion => "the iPhone must run iOS 17 or later",
        WalletPrerequisite::AppVersion => "update the app to version 46.0 or later",
    }
}

/// True if a door has a reader that takes passes.
fn takes_passes(door: &Door) -> bool {
    door.readers.iter().any(|r| r.model == PASS_READER_MODEL && r.tamper_protection)
}

fn check_device_id(field: &str, id: &str) -> Result<String> {
    Ok(crate::input::DEVICE_ID.check(field, id)?.to_owned())
}

impl Store {
    /// Every unmet wallet pass prerequisite for this organization and device, in the product's order.
    pub async fn wallet_eligibility(&self, org_id: &str, device: &WalletDevice) -> Result<WalletEligibility> {
        let ios = parse_version("ios_version", &device.ios_version)?;
        let app = parse_version("app_version", &device.app_version)?;
        let settings = self.organization(org_id).await?.settings;
        let any_reader = self.doors(org_id).await?.iter().any(takes_passes);
        let unmet: Vec<WalletPrerequisite> = [
            (WalletPrerequisite::SsoMfa, settings.sso_mfa),
            (WalletPrerequisite::Subscription, settings.wallet_pass_subscription),
            (WalletPrerequisite::EligibleReader, any_reader),
            (WalletPrerequisite::IosVersion, at_least(&ios, &MIN_IOS)),
            (WalletPrerequisite::AppVersion, at_least(&app, &MIN_APP)),
        ]
        .into_iter()
        .filter(|(_, met)| !met)
        .map(|(prerequisite, _)| prerequisite)
        .collect();
        Ok(WalletEligibility {
            eligible: unmet.is_empty(),
            messages: unmet.iter().map(|p| message(*p).to_owned()).collect(),
            unmet,
        })
    }

    /// A member adds a wallet pass for themselves. Refused (`wallet_not_eligible`) while any
    /// prerequisite is unmet, and (`credential_suspended`) while their pass is suspended. The pass is issued even without permissions (it then opens nothing);
    /// any pass the member held before is superseded (revoked with that reason) on every device.
    pub async fn add_wallet_pass(&self, org_id: &str, member_id: &str, new: &NewWalletPass) -> Result<WalletPassAdded> {
        let device = WalletDevice { ios_version: new.ios_version.clone(), app_version: new.app_version.clone() };
        let eligibility = self.wallet_eligibility(org_id, &device).await?;
        if !eligibility.eligible {
            return Err(Error::refused(Refusal::WalletNotEligible, eligibility.messages.join("; ")));
        }
        let iphone = check_device_id("iphone_device_id", &new.iphone_device_id)?;
        let watch_id = new.watch_device_id.as_deref().map(|w| check_device_id("watch_device_id", w)).transpose()?;
        let key = self.device_keys.parse(&new.secure_element_public_key).map_err(|e| match e {
            Error::InvalidKey(_) => Error::InvalidKey("secure_element_public_key is not a point on P-256"),
            _ => Error::invalid(
                "secure_element_public_key must be an uncompressed P-256 public key (130 hex characters)",
            ),
        })?;
        let signer = self.signer(org_id).await?;
        let user = self.user(org_id, member_id).await?;
        let doors: Vec<Door> = self.member_doors(org_id, member_id).await?.into_iter().filter(takes_passes).collect();
        let locks: Vec<LockId> = doors.iter().map(|d| LockId(d.lock)).collect();
        let at = now();
        let validity = Validity {
            not_before: Timestamp(at.saturating_sub(CLOCK_SKEW_SECS)),
            not_after: Timestamp(at.saturating_add(PASS_VALIDITY_SECS)),
        };
        // Outside the epoch: an epoch rise never revokes a pass; the list alone does.
        let epoch = revocation::PASS_EPOCH;
        let member = member_id_bytes(member_id)?;
        let credentials = super::keys::sign_credentials(&signer.key, member, key, validity, epoch, &locks, false)?;
        let (watch, bound_watch) = match (&watch_id, new.watch_unlocked) {
            (None, _) => (WatchBinding::NoWatch, None),
            (Some(id), true) => (WatchBinding::Bound, Some(id.clone())),
            (Some(_), false) => (WatchBinding::AddAgain, None),
        };

        let id = crypto::random_id::<16>()?;
        let mut tx = self.pool.begin().await?;
        // A write first, so SQLite takes its write lock up front.
        sqlx::query("UPDATE members SET updated_at = updated_at WHERE id = $1")
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        let previous: Vec<String> = sqlx::query_scalar(
            "SELECT credential_id FROM wallet_passes WHERE org_id = $1 AND member_id = $2 ORDER BY credential_id",
        )
        .bind(org_id)
        .bind(member_id)
        .fetch_all(&mut *tx)
        .await?;
        let suspended: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM credentials WHERE org_id = $1 AND member_id = $2 AND kind = 'wallet_pass' \
             AND status = 'suspended'",
        )
        .bind(org_id)
        .bind(member_id)
        .fetch_one(&mut *tx)
        .await?;
        if suspended > 0 {
            // Adding again must not undo an administrator's suspension.
            return Err(Error::refused(
                Refusal::CredentialSuspended,
                "an administrator suspended your wallet pass; it cannot be added again until it is resumed",
            ));
        }
        for old in &previous {
            let old_iphone: Option<String> =
                sqlx::query_scalar("SELECT iphone_device_id FROM wallet_passes WHERE credential_id = $1")
                    .bind(old)
                    .fetch_optional(&mut *tx)
                    .await?;
            self.revoke_pass(&mut tx, org_id, old, PassRevocation::Superseded).await?;
            sqlx::query("DELETE FROM credentials WHERE id = $1").bind(old).execute(&mut *tx).await?;
            let detail = json!({"by": id, "previous_iphone": old_iphone, "iphone": iphone});
            audit::record(&mut tx, org_id, &Actor::Member(member_id.to_owned()), "wallet_pass.superseded", old, detail)
                .await?;
        }
        sqlx::query(
            "INSERT INTO credentials (id, org_id, member_id, kind, status, device_public_key, created_at, last_issued_at) \
             VALUES ($1, $2, $3, 'wallet_pass', 'active', $4, $5, $5)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(member_id)
        .bind(key.0.to_vec())
        .bind(i64::from(at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::Conflict("this secure-element key already backs a credential".to_owned())
            }
            other => other.into(),
        })?;
        sqlx::query(
            "INSERT INTO wallet_passes (credential_id, org_id, member_id, iphone_device_id, watch_device_id, added_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(member_id)
        .bind(&iphone)
        .bind(bound_watch.clone())
        .bind(i64::from(at))
        .execute(&mut *tx)
        .await?;
        super::keys::record_issued(&mut tx, &id, &credentials, epoch).await?;
        let lock_ids: Vec<u32> = locks.iter().map(|l| l.0).collect();
        let detail = json!({
            "iphone": iphone, "watch": watch, "watch_device_id": bound_watch,
            "credentials": credentials.iter().map(|c| &c.id).collect::<Vec<_>>(),
            "locks": lock_ids, "superseded": previous,
        });
        audit::record(&mut tx, org_id, &Actor::Member(member_id.to_owned()), "wallet_pass.added", &id, detail).await?;
        tx.commit().await?;

        let mut notes = Vec::new();
        if lock_ids.is_empty() {
            notes.push(
                "the pass was added, but it opens no door yet: your access groups give you no door whose reader \
                 takes wallet passes"
                    .to_owned(),
            );
        }
        if watch == WatchBinding::AddAgain {
            notes.push(
                "your Apple Watch was locked while the pass was added, so the pass is not on it: unlock the watch \
                 and add the pass again"
                    .to_owned(),
            );
        }
        Ok(WalletPassAdded {
            pass: WalletPass {
                id,
                member_id: member_id.to_owned(),
                status: CredentialStatus::Active,
                devices: WalletPassDevices { iphone, watch: bound_watch },
                locks: lock_ids,
                added_at: at,
            },
            watch,
            superseded: previous,
            notes,
            provisioning: WalletProvisioning {
                format: PROVISIONING_FORMAT.to_owned(),
                organization: signer.organization.name.clone(),
                member_name: user.name,
                credentials,
                trust_anchors: vec![signer.organization.trust_anchor.clone()],
                unlock: "tap".to_owned(),
            },
        })
    }

    /// The organization's passes with the devices each is active on (or only `member_id`'s).
    pub async fn wallet_passes(&self, org_id: &str, member_id: Option<&str>) -> Result<Vec<WalletPass>> {
        let rows = sqlx::query(
            "SELECT w.credential_id, w.member_id, w.iphone_device_id, w.watch_device_id, w.added_at, c.status \
             FROM wallet_passes w JOIN credentials c ON c.id = w.credential_id \
             WHERE w.org_id = $1 AND ($2 = '' OR w.member_id = $2) ORDER BY w.added_at, w.credential_id",
        )
        .bind(org_id)
        .bind(member_id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        let mut passes = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = row.text("credential_id")?;
            let lock_lists: Vec<String> =
                sqlx::query_scalar("SELECT locks FROM issued_credentials WHERE credential_id = $1")
                    .bind(&id)
                    .fetch_all(&self.pool)
                    .await?;
            let mut locks: Vec<u32> =
                lock_lists.iter().flat_map(|l| l.split(',')).filter_map(|l| l.parse().ok()).collect();
            locks.sort_unstable();
            passes.push(WalletPass {
                id,
                member_id: row.text("member_id")?,
                status: CredentialStatus::parse(&row.text("status")?)?,
                devices: WalletPassDevices {
                    iphone: row.text("iphone_device_id")?,
                    watch: row.opt_text("watch_device_id")?,
                },
                locks,
                added_at: row.time("added_at")?,
            });
        }
        Ok(passes)
    }

    /// Suspends (reversible) or resumes a pass. Suspending revokes its credentials with the reason
    /// `pass_suspended`; resuming takes them off the list again (readers apply the newer list).
    pub async fn set_wallet_pass_status(
        &self,
        org_id: &str,
        actor: &Actor,
        pass_id: &str,
        status: CredentialStatus,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let changed =
            sqlx::query("UPDATE credentials SET status = $1 WHERE id = $2 AND org_id = $3 AND kind = 'wallet_pass'")
                .bind(status.as_str())
                .bind(pass_id)
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
        if changed.rows_affected() == 0 {
            return Err(Error::NotFound("wallet pass"));
        }
        let action = match status {
            CredentialStatus::Suspended => {
                self.revoke_pass(&mut tx, org_id, pass_id, PassRevocation::Suspended).await?;
                "wallet_pass.suspended"
            }
            CredentialStatus::Active => {
                let restored = sqlx::query(
                    "DELETE FROM revocations WHERE org_id = $1 AND id IN \
                     (SELECT id FROM issued_credentials WHERE credential_id = $2)",
                )
                .bind(org_id)
                .bind(pass_id)
                .execute(&mut *tx)
                .await?;
                if restored.rows_affected() > 0 {
                    sqlx::query("UPDATE organizations SET revocation_sequence = revocation_sequence + 1 WHERE id = $1")
                        .bind(org_id)
                        .execute(&mut *tx)
                        .await?;
                }
                "wallet_pass.resumed"
            }
        };
        audit::record(&mut tx, org_id, actor, action, pass_id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a pass: its credentials are revoked with the reason `pass_deleted`, and it is gone
    /// from every device list. The member may add a new one.
    pub async fn delete_wallet_pass(&self, org_id: &str, actor: &Actor, pass_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let touched = sqlx::query(
            "UPDATE credentials SET status = status WHERE id = $1 AND org_id = $2 AND kind = 'wallet_pass'",
        )
        .bind(pass_id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        if touched.rows_affected() == 0 {
            return Err(Error::NotFound("wallet pass"));
        }
        self.revoke_pass(&mut tx, org_id, pass_id, PassRevocation::Deleted).await?;
        sqlx::query("DELETE FROM credentials WHERE id = $1").bind(pass_id).execute(&mut *tx).await?;
        audit::record(&mut tx, org_id, actor, "wallet_pass.deleted", pass_id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a pass's unexpired credentials on the revocation list with `why`.
    async fn revoke_pass(
        &self,
        conn: &mut AnyConnection,
        org_id: &str,
        pass_id: &str,
        why: PassRevocation,
    ) -> Result<()> {
        revocation::revoke(&mut *conn, self.backend, org_id, Whose::Binding(pass_id)).await?;
        sqlx::query(
            "UPDATE revocations SET reason = $1 WHERE org_id = $2 AND id IN \
             (SELECT id FROM issued_credentials WHERE credential_id = $3)",
        )
        .bind(why.as_str())
        .bind(org_id)
        .bind(pass_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Reasons of listed revocations, by credential id (for readers' configuration poll).
    pub(super) async fn revocation_reasons(&self, org_id: &str) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query(
            "SELECT id, reason FROM revocations WHERE org_id = $1 AND reason IS NOT NULL AND not_after > $2",
        )
        .bind(org_id)
        .bind(i64::from(now()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((row.text("id")?, row.text("reason")?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn versions_compare_numerically(a in prop::collection::vec(0u32..200, 1..4), b in prop::collection::vec(0u32..200, 1..4)) {
            let text = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            let parsed_a = parse_version("a", &text(&a)).unwrap_or_default();
            let parsed_b = parse_version("b", &text(&b)).unwrap_or_default();
            let len = a.len().max(b.len());
            let pad = |v: &[u32]| (0..len).map(|i| v.get(i).copied().unwrap_or(0)).collect::<Vec<_>>();
            prop_assert_eq!(at_least(&parsed_a, &parsed_b), pad(&a) >= pad(&b));
        }
    }

    #[test]
    fn the_product_thresholds() {
        let ok = |v: &str, min: &[u32]| at_least(&parse_version("v", v).unwrap_or_default(), min);
        assert!(ok("17", &MIN_IOS) && ok("17.0.1", &MIN_IOS) && !ok("16.7.8", &MIN_IOS));
        assert!(ok("46.0", &MIN_APP) && ok("46.10", &MIN_APP) && ok("100", &MIN_APP) && !ok("45.99", &MIN_APP));
        assert!(
            parse_version("v", "17.x").is_err()
                && parse_version("v", "").is_err()
                && parse_version("v", "1.2.3.4.5").is_err()
        );
    }
}
