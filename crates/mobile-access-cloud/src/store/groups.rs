//! Access groups: named sets of doors that the workspace platform assigns members to.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Actor, RowExt, Store, audit, doors::check_name, now};
use crate::{
    Error, Result,
    api::{AccessGroup, NewAccessGroup},
    crypto,
};

impl Store {
    /// Creates a group opening `door_ids` (which must all be the organization's doors).
    pub async fn create_access_group(&self, org_id: &str, actor: &Actor, new: &NewAccessGroup) -> Result<AccessGroup> {
        let name = check_name("the access group name", &new.name)?;
        let known: Vec<String> = self.doors(org_id).await?.into_iter().map(|d| d.id).collect();
        let mut door_ids = new.door_ids.clone();
        door_ids.sort();
        door_ids.dedup();
        let unknown: Vec<String> = door_ids.iter().filter(|id| !known.contains(id)).cloned().collect();
        if !unknown.is_empty() {
            return Err(Error::UnknownDoors(unknown));
        }
        let id = crypto::random_id::<8>()?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO access_groups (id, org_id, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, name) DO NOTHING",
        )
        .bind(&id)
        .bind(org_id)
        .bind(&name)
        .bind(i64::from(now()))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::Conflict(format!("an access group named {name:?} already exists")));
        }
        for door_id in &door_ids {
            sqlx::query("INSERT INTO access_group_doors (group_id, door_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(door_id)
                .execute(&mut *tx)
                .await?;
        }
        audit::record(&mut tx, org_id, actor, "access_group.created", &id, json!({"name": name, "door_ids": door_ids}))
            .await?;
        tx.commit().await?;
        Ok(AccessGroup { id, name, door_ids })
    }

    /// The organization's access groups, by name.
    pub async fn access_groups(&self, org_id: &str) -> Result<Vec<AccessGroup>> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, gd.door_id FROM access_groups g \
             LEFT JOIN access_group_doors gd ON gd.group_id = g.id WHERE g.org_id = $1 ORDER BY g.name, gd.door_id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for row in &rows {
            let doors = groups.entry((row.text("name")?, row.text("id")?)).or_default();
            if let Some(door) = row.opt_text("door_id")? {
                doors.push(door);
            }
        }
        Ok(groups.into_iter().map(|((name, id), door_ids)| AccessGroup { id, name, door_ids }).collect())
    }
}
