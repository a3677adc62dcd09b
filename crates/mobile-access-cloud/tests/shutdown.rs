//! The real binary under an orchestrator: SIGTERM (what every orchestrator sends) stops it
//! accepting, lets the request in flight finish, and exits 0.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use mobile_access_cloud::{
    Actor, Backend, Config, Store,
    api::{NewDoor, NewOrganization, NewReader, ReaderMode},
};
use serde_json::json;
use support::BEFORE_DECEMBER_2023;

fn sync_body(members: usize) -> serde_json::Value {
    let members: Vec<_> = (0..members)
        .map(|i| {
            json!({"external_id": format!("m{i}"), "name": format!("Member {i}"),
                   "email": format!("m{i}@example.com"), "access_groups": []})
        })
        .collect();
    json!({"members": members})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    for backend in support::backends() {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        let mut pg = None;
        if backend == Backend::Postgres {
            let (url, name) = support::fresh_postgres_database().await;
            config.database_url = Some(url);
            pg = Some(name);
        }
        let store = Store::open(&config).await.unwrap();
        let new =
            NewOrganization { name: "Org".to_owned(), created_at: Some(BEFORE_DECEMBER_2023), unlock_method: None };
        let org = store.create_organization(new).await.unwrap();
        store.close().await;

        let mut command = Command::new(env!("CARGO_BIN_EXE_mobile-access-cloud"));
        // The flag, never the environment, says which database this run uses.
        command.env_remove("DATABASE_URL").arg("--data-dir").arg(dir.path());
        if let Some(url) = &config.database_url {
            command.arg("--database-url").arg(url);
        }
        let mut server = support::ServerProcess(
            command
                .args(["serve", "--listen", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = server.0.stdout.take().unwrap();
        let base = support::ready_line(stdout).await;
        assert!(base.starts_with("http://127.0.0.1:"), "ready line: {base:?}");
        let http = support::client();

        // A sync long enough to be in flight when the signal comes (bigger until it is).
        let mut members = 4_000;
        let answer = loop {
            let request = http
                .put(format!("{base}/v1/integration/members"))
                .bearer_auth(&org.integration_token)
                .json(&sync_body(members));
            let in_flight = tokio::spawn(async move {
                let response = request.send().await?;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await?;
                Ok::<_, reqwest::Error>((status, body, Instant::now()))
            });
            tokio::time::sleep(Duration::from_millis(150)).await;
            if in_flight.is_finished() {
                assert!(members < 200_000, "no sync stayed in flight for 150 ms");
                let (status, body, _) = in_flight.await.unwrap().unwrap();
                assert_eq!(status, 200, "{body}");
                members *= 3;
                continue;
            }
            let signalled = Instant::now();
            let kill = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
            assert!(kill.success());
            let (status, body, answered) = in_flight.await.unwrap().expect("the request in flight was cut off");
            assert!(answered > signalled);
            break (status, body);
        };
        eprintln!("a sync of {members} members was in flight at SIGTERM");
        assert_eq!(answer.0, 200, "{}", answer.1);
        assert_eq!(answer.1["created"], members, "{}", answer.1);

        let exit = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = server.0.try_wait().unwrap() {
                    return status;
                }
                if Instant::now() > deadline {
                    panic!("the server did not exit within 30 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await
        .unwrap();
        assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
        assert!(http.get(format!("{base}/healthz")).send().await.is_err(), "still accepting after exit");
        if let Some(name) = pg {
            support::drop_postgres_database(&name).await;
        }
    }
}

/// A reader's long poll (held open up to 25 s) does not hold the drain: SIGTERM answers it at
/// once, empty, and the server exits 0 within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_readers_long_polls_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(dir.path());
    let store = Store::open(&config).await.unwrap();
    let new = NewOrganization { name: "Org".to_owned(), created_at: Some(BEFORE_DECEMBER_2023), unlock_method: None };
    let org = store.create_organization(new).await.unwrap();
    let org_id = org.organization.id;
    let door = store
        .create_door(
            &org_id,
            &Actor::Admin,
            &NewDoor { name: "Lab".to_owned(), owner_verification: false, hands_free: false },
        )
        .await
        .unwrap();
    let reader = NewReader {
        model: "Reader Pro 2.1".to_owned(),
        mode: ReaderMode::Range,
        tamper_protection: true,
        tap_rssi_threshold: None,
        tx_power: None,
        relay_open_ms: None,
    };
    let provisioning = store.provision_reader(&org_id, &Actor::Admin, &door.id, &reader).await.unwrap();
    store.close().await;

    let mut server = support::ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_mobile-access-cloud"))
            .env_remove("DATABASE_URL")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = support::ready_line(server.0.stdout.take().unwrap()).await;
    let poll = support::client()
        .get(format!("{base}/v1/reader/commands?wait_secs=25&nonces=0102030405060708"))
        .bearer_auth(provisioning.reader_token)
        .send();
    let poll = tokio::spawn(async move {
        let response = poll.await.unwrap();
        (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the poll is held open");
    let signalled = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap().success());
    let (status, body) = poll.await.unwrap();
    assert_eq!((status, body), (200, json!({"commands": []})), "answered, empty");
    let exit = tokio::task::spawn_blocking(move || {
        loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                return status;
            }
            assert!(signalled.elapsed() < Duration::from_secs(10), "the server did not exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    eprintln!("exited {:?} after SIGTERM with a long poll open", signalled.elapsed());
    assert_eq!(exit.code(), Some(0));
}
