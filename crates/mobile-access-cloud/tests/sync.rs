//! The integration's member sync: idempotent, leaves absent members alone, updates in place,
//! removes on request; and the user list pages through every member exactly once.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::collections::HashSet;

use serde_json::{Value, json};
use support::AFTER_DECEMBER_2023;

fn member(id: &str, name: &str, groups: &[&str]) -> Value {
    json!({"external_id": id, "name": name, "email": format!("{id}@example.com"), "access_groups": groups})
}

#[tokio::test]
async fn sync_is_idempotent_and_only_touches_the_members_it_lists() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Sync", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        cloud.group(admin, "A", &[]).await;
        cloud.group(admin, "B", &[]).await;
        let path = "/v1/integration/members";
        let first = json!({"members": [member("1", "One", &["A"]), member("2", "Two", &["A", "B"])]});
        let report = cloud.put(integration, path, first.clone()).await.ok();
        assert_eq!((report["created"].as_u64(), report["unchanged"].as_u64()), (Some(2), Some(0)));
        let again = cloud.put(integration, path, first).await.ok();
        assert_eq!(
            again,
            json!({"created": 0, "updated": 0, "unchanged": 2, "removed": 0, "welcome_emails": 0, "access_emails": 0})
        );

        let change = json!({"members": [member("2", "Two Renamed", &["B"])]});
        assert_eq!(cloud.put(integration, path, change).await.ok()["updated"], 1);
        let users = cloud.get(admin, "/v1/admin/users").await.ok();
        let by_id =
            |id: &str| users["items"].as_array().unwrap().iter().find(|u| u["external_id"] == id).unwrap().clone();
        assert_eq!(by_id("1")["access_groups"], json!(["A"]), "member 1 was not in the call: untouched");
        assert_eq!(
            (by_id("2")["name"].clone(), by_id("2")["access_groups"].clone()),
            (json!("Two Renamed"), json!(["B"]))
        );

        let remove = json!({"members": [{"external_id": "1", "removed": true}, {"external_id": "never-existed", "removed": true}]});
        assert_eq!(cloud.put(integration, path, remove).await.ok()["removed"], 1);
        let users = cloud.get(admin, "/v1/admin/users").await.ok();
        assert_eq!(users["items"].as_array().unwrap().len(), 1);
        let audit = cloud.get(admin, "/v1/admin/audit-log").await.ok();
        let syncs = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "members.synced").count();
        assert_eq!(syncs, 4);
    });
}

#[tokio::test]
async fn the_user_list_pages_through_every_member_once() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Pages", AFTER_DECEMBER_2023, None).await;
        let members: Vec<Value> = (0..250).map(|i| member(&format!("m{i}"), "M", &[])).collect();
        cloud.put(&org.integration_token, "/v1/integration/members", json!({"members": members})).await.ok();
        let mut seen = HashSet::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &after {
                Some(cursor) => format!("/v1/admin/users?limit=100&after={cursor}"),
                None => "/v1/admin/users?limit=100".to_owned(),
            };
            let page = cloud.get(&org.admin_token, &path).await.ok();
            pages += 1;
            for user in page["items"].as_array().unwrap() {
                assert!(seen.insert(user["member_id"].as_str().unwrap().to_owned()));
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!((seen.len(), pages), (250, 3));
    });
}
