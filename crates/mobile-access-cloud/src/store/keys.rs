//! Key issuance: `POST /v1/me/keys` checks a member's rights and signs credentials for their
//! phone's device key in one request.

use std::{collections::BTreeMap, sync::Arc};

use mobile_access_protocol::{
    CredentialBody, CredentialId, DEVICE_PUBLIC_KEY_LEN, DevicePublicKey, KeyId, LockId, MAX_LOCKS, MemberId, OrgId,
    OrganizationKey, Timestamp, Validity,
};
use ring::{
    agreement::{self, EphemeralPrivateKey, UnparsedPublicKey},
    rand::SystemRandom,
};
use serde_json::json;
use sqlx::{AnyPool, any::AnyRow};

use super::{
    Backend, RowExt, Store, coalesce,
    doors::{DOOR_COLUMNS, DOOR_ORDER, doors_from_rows, member_door_ids},
    key_writes::IssuanceWrite,
    now,
    organizations::{ORG_COLUMNS, Signer},
    revocation::ListState,
};
use crate::{
    Error, Refusal, Result,
    api::{Door, IssuedCredential, KeyBundle, KeyRequest, MemberStatus, UnlockMethod},
    crypto, hex,
};

/// How far back `not_before` is set, so a phone or reader whose clock is a little behind still
/// accepts a key it just received.
pub const CLOCK_SKEW_SECS: u32 = 300;

/// The 65 bytes of a device key in hex, not yet checked to be on the curve.
pub(super) fn decode_device_key(text: &str) -> Result<[u8; DEVICE_PUBLIC_KEY_LEN]> {
    hex::decode_array(text).ok_or_else(|| {
        Error::invalid("device_public_key must be 130 hex characters: an uncompressed P-256 point (65 bytes)")
    })
}

/// Whether `bytes` is an uncompressed point on P-256, checked by an ECDH with a throwaway key,
/// which rejects off-curve points (two scalar multiplications: see `device_keys` for why a
/// phone's key is checked once).
pub(super) fn check_on_curve(bytes: &[u8; DEVICE_PUBLIC_KEY_LEN]) -> Result<()> {
    let ephemeral = EphemeralPrivateKey::generate(&agreement::ECDH_P256, &SystemRandom::new())
        .map_err(|_| Error::Crypto("P-256 key generation failed"))?;
    agreement::agree_ephemeral(ephemeral, &UnparsedPublicKey::new(&agreement::ECDH_P256, bytes), |_| ())
        .map_err(|_| Error::InvalidKey("device_public_key is not a point on P-256"))
}

pub(super) fn member_id_bytes(id: &str) -> Result<MemberId> {
    hex::decode_array(id).map(MemberId).ok_or_else(|| Error::Corrupt(format!("member id {id:?}")))
}

impl Store {
    /// Checks the member's rights, then signs one credential per [`MAX_LOCKS`] doors for
    /// `request.device_public_key`, records the device binding and an audit entry.
    ///
    /// Refusals (403): `module_disabled`, `not_confirmed`, `no_access_group`,
    /// `credential_suspended` (this device's mobile key was suspended by an administrator).
    pub async fn issue_keys(&self, org_id: &str, member_id: &str, request: &KeyRequest) -> Result<KeyBundle> {
        let device_key = self.device_keys.parse(&request.device_public_key)?;
        let owner_key = request.owner_public_key.as_deref().map(|text| self.owner_key(text, device_key)).transpose()?;
        let facts = self.issuance_facts(org_id, member_id).await?;
        let signer = &facts.signer;
        let settings = &signer.organization.settings;
        if !settings.mobile_access_enabled {
            return Err(Error::refused(Refusal::ModuleDisabled, "mobile access is switched off for this organization"));
        }
        if facts.member_status != MemberStatus::Confirmed {
            let how = match settings.unlock_method {
                UnlockMethod::BrandedApp => {
                    "the user is not confirmed: only confirmed users can unlock with the branded app; an \
                     administrator must have the integration recreate this user as confirmed"
                }
                UnlockMethod::Native => {
                    "the user is not confirmed: accept the invitation from the welcome email and set a password first"
                }
            };
            return Err(Error::refused(Refusal::NotConfirmed, how));
        }
        if !facts.has_access_group {
            return Err(Error::refused(
                Refusal::NoAccessGroup,
                "the member has no access group, so there is no door a key could open",
            ));
        }
        let now = now();
        // The revocation list goes out with the keys, signed now: refused before anything is
        // written when this clock is behind a time already signed.
        let list_state = facts.list.at(org_id, now)?;
        let doors = facts.doors;
        let validity = Validity {
            not_before: Timestamp(now.saturating_sub(CLOCK_SKEW_SECS)),
            not_after: Timestamp(now.saturating_add(settings.key_validity_secs)),
        };
        // Doors requiring owner verification open only with the owner key's credentials, never
        // the everyday key's: a phone without an owner key gets none for them.
        let locks_where = |verified: bool| -> Vec<LockId> {
            doors.iter().filter(|d| d.owner_verification == verified).map(|d| LockId(d.lock)).collect()
        };
        let (locks, verified_locks) = (locks_where(false), locks_where(true));
        let member = member_id_bytes(member_id)?;
        let epoch = signer.organization.revocation_epoch;
        let mut credentials = sign_credentials(&signer.key, member, device_key, validity, epoch, &locks, false)?;
        if let Some(owner_key) = owner_key {
            credentials.extend(sign_credentials(
                &signer.key,
                member,
                owner_key,
                validity,
                epoch,
                &verified_locks,
                true,
            )?);
        }

        let detail = json!({
            "credentials": credentials.iter().map(|c| &c.id).collect::<Vec<_>>(),
            "locks": locks.iter().map(|l| l.0).collect::<Vec<_>>(),
            "owner_verified_locks": credentials.iter().filter(|c| c.owner_verified).flat_map(|c| c.locks.clone()).collect::<Vec<_>>(),
            "not_after": validity.not_after.0,
        });
        let write = IssuanceWrite {
            org_id: org_id.to_owned(),
            member_id: member_id.to_owned(),
            device_key: device_key.0.to_vec(),
            now,
            credentials: credentials.clone(),
            epoch,
            detail,
            list_signed_at: list_state.to_record,
        };
        // Committed together with the other issuances waiting now (see `key_writes`).
        self.key_writer.write(write).await?;
        let list = self.signed_list(signer, org_id, now, list_state.sequence).await?;
        Ok(KeyBundle {
            credentials,
            trust_anchors: vec![signer.organization.trust_anchor.clone()],
            doors,
            server_time: now,
            revocation_list: hex::encode(list.encoded()),
        })
    }

    /// The phone's owner key: a point on P-256, and not its device key (a second copy of the
    /// everyday key would prove nobody was verified).
    fn owner_key(&self, text: &str, device_key: DevicePublicKey) -> Result<DevicePublicKey> {
        let key = self.device_keys.parse(text).map_err(|error| match error {
            Error::InvalidKey(_) => Error::InvalidKey("owner_public_key is not a point on P-256"),
            _ => Error::invalid("owner_public_key must be 130 hex characters: an uncompressed P-256 point (65 bytes)"),
        })?;
        if key == device_key {
            return Err(Error::invalid("owner_public_key must be a key of its own, not the device key"));
        }
        Ok(key)
    }

    /// Everything issuance reads about the organization and the member, their doors included,
    /// read with the other key downloads waiting at once (see [`read_issuance_facts`]);
    /// decoded here, on the request's task.
    async fn issuance_facts(&self, org_id: &str, member_id: &str) -> Result<IssuanceFacts> {
        let IssuanceRows { organization, member } =
            self.issuance_reads.get((org_id.to_owned(), member_id.to_owned())).await?.ok_or(Error::NotFound("user"))?;
        let first = member.first().ok_or(Error::NotFound("user"))?;
        Ok(IssuanceFacts {
            signer: self.signer_from_row(&organization)?,
            member_status: MemberStatus::parse(&first.text("member_status")?)?,
            has_access_group: first.int("member_groups")? > 0,
            list: ListState::from_row(&organization)?,
            doors: doors_from_rows(&member)?,
        })
    }
}

/// What issuance reads for one member, undecoded.
#[derive(Clone)]
pub(super) struct IssuanceRows {
    /// The organization's row: settings, sealed signing key, revocation list state.
    organization: Arc<AnyRow>,
    /// The member's status and number of access groups, with the doors their groups open and
    /// the doors' readers: one row per door and reader (one row without a door when none).
    member: Vec<AnyRow>,
}

/// Issuance's rows for each (organization, member) of `members` found, in two statements
/// whatever their number: the organizations' rows (one each), then the members' rights and
/// doors. Why for many members at once: each statement on SQLite is two thread hand-offs to the
/// connection's worker, on PostgreSQL a round trip; they were a large part of an issuance's CPU
/// time. Why two: an organization's columns repeated on each of its members' door rows were
/// most of the values read (and each value read is an allocation, twice).
pub(super) async fn read_issuance_facts(
    pool: AnyPool,
    backend: Backend,
    members: Vec<(String, String)>,
) -> Result<BTreeMap<(String, String), IssuanceRows>> {
    let mut orgs: Vec<&str> = members.iter().map(|(org, _)| org.as_str()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    let orgs = coalesce::padded(&orgs);
    let sql = format!(
        "SELECT {ORG_COLUMNS}, signing_key_sealed, revocation_sequence, revocation_signed_at \
         FROM organizations WHERE id {}",
        coalesce::in_list(backend, 1, orgs.len())
    );
    let mut org_query = sqlx::query(&sql);
    for org in orgs {
        org_query = org_query.bind(org);
    }
    let ids = coalesce::padded(&members.iter().map(|(_, member)| member.as_str()).collect::<Vec<_>>());
    let sql = format!(
        "SELECT m.org_id, m.id AS member_id, m.status AS member_status, \
           (SELECT COUNT(*) FROM member_access_groups mg WHERE mg.member_id = m.id) AS member_groups, \
           {DOOR_COLUMNS} FROM members m \
         LEFT JOIN doors d ON d.org_id = m.org_id AND d.id IN ({}) \
         LEFT JOIN readers r ON r.door_id = d.id \
         WHERE m.id {} \
         ORDER BY m.id, {DOOR_ORDER}",
        member_door_ids("m.id"),
        coalesce::in_list(backend, 1, ids.len()),
    );
    let mut member_query = sqlx::query(&sql);
    for id in ids {
        member_query = member_query.bind(id);
    }
    // Both on one connection: one acquisition (and its liveness check), and a read takes no more
    // of the pool than one request's statement did.
    let mut conn = pool.acquire().await?;
    let org_rows = org_query.fetch_all(&mut *conn).await?;
    let member_rows = member_query.fetch_all(&mut *conn).await?;
    drop(conn);
    let mut organizations = BTreeMap::new();
    for row in org_rows {
        organizations.insert(row.text("id")?, Arc::new(row));
    }
    let mut found: BTreeMap<(String, String), IssuanceRows> = BTreeMap::new();
    for row in member_rows {
        let org_id = row.text("org_id")?;
        // A member of an organization not asked about is not asked about either.
        let Some(organization) = organizations.get(&org_id) else { continue };
        let key = (org_id, row.text("member_id")?);
        found
            .entry(key)
            .or_insert_with(|| IssuanceRows { organization: organization.clone(), member: Vec::new() })
            .member
            .push(row);
    }
    Ok(found)
}

/// What [`Store::issue_keys`] decides on, read at once.
struct IssuanceFacts {
    signer: Signer,
    member_status: MemberStatus,
    has_access_group: bool,
    list: ListState,
    /// The doors the member's access groups open, with their readers.
    doors: Vec<Door>,
}

/// Records credentials just signed under `binding` (a mobile key or a wallet pass), so that
/// revoking the binding can name every one of them until it expires.
pub(super) async fn record_issued(
    conn: &mut sqlx::AnyConnection,
    binding: &str,
    credentials: &[IssuedCredential],
    epoch: u32,
) -> Result<()> {
    for issued in credentials {
        sqlx::query(
            "INSERT INTO issued_credentials (id, credential_id, not_before, not_after, revocation_epoch, locks) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&issued.id)
        .bind(binding)
        .bind(i64::from(issued.not_before))
        .bind(i64::from(issued.not_after))
        .bind(i64::from(epoch))
        .bind(issued_locks(issued))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// How `issued_credentials.locks` holds a credential's locks: comma-separated numbers.
pub(super) fn issued_locks(issued: &IssuedCredential) -> String {
    issued.locks.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Signs one credential per `MAX_LOCKS` locks (the protocol's limit on one credential) for
/// `device_key`, each valid for `validity` at the organization's epoch `epoch`: what a mobile
/// key download and a wallet pass both hand out. `owner_verified`: `device_key` is the phone's
/// owner key (the credentials for doors requiring owner verification).
pub(super) fn sign_credentials(
    key: &OrganizationKey,
    member: MemberId,
    device_key: DevicePublicKey,
    validity: Validity,
    epoch: u32,
    locks: &[LockId],
    owner_verified: bool,
) -> Result<Vec<IssuedCredential>> {
    locks
        .chunks(MAX_LOCKS)
        .map(|chunk| {
            let credential = key.issue(CredentialBody {
                id: CredentialId(crypto::random_array()?),
                org: OrgId([0; 8]),
                org_key: KeyId([0; 4]),
                member,
                device_key,
                validity,
                revocation_epoch: epoch,
                locks: chunk.to_vec(),
                owner_verified,
            })?;
            Ok(IssuedCredential {
                id: hex::encode(&credential.body().id.0),
                credential: hex::encode(credential.encoded()),
                not_before: validity.not_before.0,
                not_after: validity.not_after.0,
                locks: chunk.iter().map(|l| l.0).collect(),
                owner_verified,
            })
        })
        .collect()
}
