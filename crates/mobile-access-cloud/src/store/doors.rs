//! Doors, each with a protocol lock id, and the readers installed on them.

use std::collections::BTreeMap;

use mobile_access_protocol::{LockId, ReaderId, ReaderKey};
use serde_json::json;

use super::{Actor, RowExt, Store, audit, flag, now};
use crate::{
    Error, Result,
    api::{
        DEFAULT_TAP_RSSI_THRESHOLD, DEFAULT_TX_POWER, Door, DoorPatch, NewDoor, NewReader, Provisioning, ReaderFacts,
        ReaderMode,
    },
    crypto, hex, input,
};

/// A door and one of its readers per row (`d` the door, `r` the reader, left-joined), as
/// [`doors_from_rows`] reads them.
pub(super) const DOOR_COLUMNS: &str = "d.id AS door_id, d.name AS door_name, d.lock_id, \
    d.owner_verification AS door_owner_verification, d.hands_free AS door_hands_free, r.id AS reader_id, r.model, \
    r.mode, r.tamper_protection, r.tap_rssi_threshold, r.tx_power";
/// The order [`doors_from_rows`] expects: by door, each door's readers oldest first.
pub(super) const DOOR_ORDER: &str = "d.lock_id, r.created_at, r.id";
/// A subquery of the ids of the doors a member's access groups open, `member` being the SQL
/// that names the member: a bound parameter (`"$2"`), or a column of the outer query (`"m.id"`).
pub(super) fn member_door_ids(member: &str) -> String {
    format!(
        "SELECT gd.door_id FROM access_group_doors gd \
         JOIN member_access_groups mg ON mg.group_id = gd.group_id WHERE mg.member_id = {member}"
    )
}

/// The doors in rows of [`DOOR_COLUMNS`] in [`DOOR_ORDER`], with their readers; rows without a
/// door (a left join that found none) are skipped.
pub(super) fn doors_from_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Door>> {
    let mut doors: BTreeMap<u32, Door> = BTreeMap::new();
    for row in rows {
        let Some(id) = row.opt_text("door_id")? else { continue };
        let lock = row.u32("lock_id")?;
        let door = match doors.entry(lock) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => entry.insert(Door {
                id,
                name: row.text("door_name")?,
                lock,
                readers: Vec::new(),
                owner_verification: row.flag("door_owner_verification")?,
                hands_free: row.flag("door_hands_free")?,
            }),
        };
        if let Some(reader_id) = row.opt_text("reader_id")? {
            door.readers.push(ReaderFacts {
                reader_id,
                model: row.text("model")?,
                mode: ReaderMode::parse(&row.text("mode")?)?,
                tamper_protection: row.flag("tamper_protection")?,
                tap_rssi_threshold: small_int(row, "tap_rssi_threshold")?,
                tx_power: small_int(row, "tx_power")?,
            });
        }
    }
    Ok(doors.into_values().collect())
}

/// Defaults of a freshly provisioned reader.
const DEFAULT_RELAY_OPEN_MS: u32 = 5_000;

fn reader_seed_context(reader_id: &str) -> String {
    format!("readers.key_seed:{reader_id}")
}

pub(super) fn check_name(what: &str, name: &str) -> Result<String> {
    Ok(input::NAME.check(what, name)?.to_owned())
}

fn small_int(row: &sqlx::any::AnyRow, column: &str) -> Result<i8> {
    let value = row.int(column)?;
    i8::try_from(value).map_err(|_| Error::Corrupt(format!("{column} = {value}")))
}

impl Store {
    /// Creates a door with the organization's next lock id.
    pub async fn create_door(&self, org_id: &str, actor: &Actor, new: &NewDoor) -> Result<Door> {
        let name = check_name("the door name", &new.name)?;
        let id = crypto::random_id::<8>()?;
        let mut tx = self.pool.begin().await?;
        let lock: i64 = sqlx::query_scalar::<_, i64>(
            "UPDATE organizations SET next_lock = next_lock + 1 WHERE id = $1 RETURNING next_lock",
        )
        .bind(org_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("organization"))?;
        let lock = u32::try_from(lock).map_err(|_| Error::Conflict("the organization has no lock ids left".into()))?;
        sqlx::query(
            "INSERT INTO doors (id, org_id, name, lock_id, created_at, owner_verification, hands_free) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(&name)
        .bind(i64::from(lock))
        .bind(i64::from(now()))
        .bind(flag(new.owner_verification))
        .bind(flag(new.hands_free))
        .execute(&mut *tx)
        .await?;
        let detail = json!({
            "name": name,
            "lock": lock,
            "owner_verification": new.owner_verification,
            "hands_free": new.hands_free,
        });
        audit::record(&mut tx, org_id, actor, "door.created", &id, detail).await?;
        tx.commit().await?;
        Ok(Door {
            id,
            name,
            lock,
            readers: Vec::new(),
            owner_verification: new.owner_verification,
            hands_free: new.hands_free,
        })
    }

    /// Renames a door or changes its settings; what the patch leaves out stays. Its readers learn
    /// a changed owner verification with their next poll, phones with their next key download
    /// (a reader that requires it refuses the everyday key at once, whatever the phone holds).
    pub async fn update_door(&self, org_id: &str, actor: &Actor, door_id: &str, patch: &DoorPatch) -> Result<Door> {
        let name = patch.name.as_deref().map(|name| check_name("the door name", name)).transpose()?;
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE doors SET name = COALESCE($3, name), owner_verification = COALESCE($4, owner_verification), \
             hands_free = COALESCE($5, hands_free) WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(door_id)
        .bind(name.clone())
        .bind(patch.owner_verification.map(flag))
        .bind(patch.hands_free.map(flag))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound("door"));
        }
        let detail =
            json!({"name": name, "owner_verification": patch.owner_verification, "hands_free": patch.hands_free});
        audit::record(&mut tx, org_id, actor, "door.updated", door_id, detail).await?;
        tx.commit().await?;
        self.door(org_id, door_id).await
    }

    /// The organization's doors, by lock id, with their readers.
    pub async fn doors(&self, org_id: &str) -> Result<Vec<Door>> {
        self.doors_where(org_id, None).await
    }

    /// The doors opened by any of a member's access groups.
    pub(super) async fn member_doors(&self, org_id: &str, member_id: &str) -> Result<Vec<Door>> {
        self.doors_where(org_id, Some(member_id)).await
    }

    async fn doors_where(&self, org_id: &str, member_id: Option<&str>) -> Result<Vec<Door>> {
        let filter =
            if member_id.is_some() { format!("AND d.id IN ({})", member_door_ids("$2")) } else { String::new() };
        let sql = format!(
            "SELECT {DOOR_COLUMNS} FROM doors d LEFT JOIN readers r ON r.door_id = d.id \
             WHERE d.org_id = $1 {filter} ORDER BY {DOOR_ORDER}"
        );
        let mut query = sqlx::query(&sql).bind(org_id);
        if let Some(member_id) = member_id {
            query = query.bind(member_id);
        }
        doors_from_rows(&query.fetch_all(&self.pool).await?)
    }

    /// One door of the organization.
    pub async fn door(&self, org_id: &str, door_id: &str) -> Result<Door> {
        self.doors(org_id).await?.into_iter().find(|d| d.id == door_id).ok_or(Error::NotFound("door"))
    }

    /// Installs a reader on a door: a fresh reader key, certified by the organization for the
    /// door's lock. The returned provisioning holds the reader's secret seed; it is sealed at
    /// rest and never returned again.
    pub async fn provision_reader(
        &self,
        org_id: &str,
        actor: &Actor,
        door_id: &str,
        new: &NewReader,
    ) -> Result<Provisioning> {
        let model = check_name("the reader model", &new.model)?;
        let tap_rssi_threshold = new.tap_rssi_threshold.unwrap_or(DEFAULT_TAP_RSSI_THRESHOLD);
        let tx_power = new.tx_power.unwrap_or(DEFAULT_TX_POWER);
        let relay_open_ms = new.relay_open_ms.unwrap_or(DEFAULT_RELAY_OPEN_MS);
        let within = |(low, high): (i8, i8), value: i8| (low..=high).contains(&value);
        if !within(input::TAP_RSSI_THRESHOLD, tap_rssi_threshold) || !within(input::TX_POWER, tx_power) {
            return Err(Error::invalid("tap_rssi_threshold must be negative dBm and tx_power at most 20 dBm"));
        }
        let (shortest, longest) = input::RELAY_OPEN_MS;
        if !(shortest..=longest).contains(&relay_open_ms) {
            return Err(Error::invalid(format!("relay_open_ms must be between {shortest} and {longest}")));
        }
        let door = self.door(org_id, door_id).await?;
        let signer = self.signer(org_id).await?;
        let reader_bytes: [u8; 8] = crypto::random_array()?;
        let reader_id = hex::encode(&reader_bytes);
        let key = ReaderKey::from_seed(crypto::random_array()?)?;
        let certificate = signer.key.certify_reader(ReaderId(reader_bytes), LockId(door.lock), key.public());
        let sealed = self.master.seal(&reader_seed_context(&reader_id), key.seed())?;
        let reader_token = crypto::new_token("rdr")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO readers (id, org_id, door_id, model, mode, tamper_protection, tap_rssi_threshold, tx_power, \
             relay_open_ms, public_key, key_seed_sealed, created_at, token_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&reader_id)
        .bind(org_id)
        .bind(&door.id)
        .bind(&model)
        .bind(new.mode.as_str())
        .bind(flag(new.tamper_protection))
        .bind(i64::from(tap_rssi_threshold))
        .bind(i64::from(tx_power))
        .bind(i64::from(relay_open_ms))
        .bind(key.public().to_vec())
        .bind(sealed)
        .bind(i64::from(now()))
        .bind(crypto::token_hash(&reader_token))
        .execute(&mut *tx)
        .await?;
        let detail =
            json!({"door_id": door.id, "model": model, "mode": new.mode, "tamper_protection": new.tamper_protection});
        audit::record(&mut tx, org_id, actor, "reader.provisioned", &reader_id, detail).await?;
        tx.commit().await?;
        Ok(Provisioning {
            reader_id,
            lock: door.lock,
            door_name: door.name,
            model,
            mode: new.mode,
            tap_rssi_threshold,
            tx_power,
            tamper_protection: new.tamper_protection,
            owner_verification: door.owner_verification,
            relay_open_ms,
            reader_key_seed: hex::encode(key.seed()),
            certificate: hex::encode(&certificate.encode()),
            trust_anchors: vec![signer.organization.trust_anchor.clone()],
            revocation_epoch: signer.organization.revocation_epoch,
            reader_token,
        })
    }
}
