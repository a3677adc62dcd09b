//! Password login as an attacker meets it: a flood of wrong guesses must not stall the server,
//! and nothing in the answer tells whether an email exists or why it cannot log in.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use mobile_access_cloud::Limits;
use reqwest::Method;
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, BEFORE_DECEMBER_2023, Cloud};

const PASSWORD: &str = "correct horse battery";

/// A native organization with one confirmed member `email` whose password is [`PASSWORD`].
async fn confirmed_member(cloud: &Cloud, external_id: &str) -> (String, String) {
    let org = cloud.org("Native", BEFORE_DECEMBER_2023, None).await;
    cloud.member(&org.integration_token, external_id, &[]).await;
    let invitation = support::invitation_token(cloud.handle.store(), &format!("{external_id}@example.com")).await;
    let accept = json!({"token": invitation, "password": PASSWORD});
    cloud.call(Method::POST, None, "/v1/invitations/accept", Some(accept)).await.ok();
    (org.admin_token, format!("{external_id}@example.com"))
}

/// Latencies of `n` sequential `GET /healthz`, sorted.
async fn healthz_latencies(cloud: &Cloud, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let status = cloud.http.get(cloud.url("/healthz")).send().await.unwrap().status();
        samples.push(started.elapsed());
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    samples.sort();
    samples
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// What a login answers, byte for byte, and how long it took.
async fn login_raw(cloud: &Cloud, email: &str, password: &str) -> (u16, Vec<u8>, Duration) {
    let started = Instant::now();
    let response = cloud
        .http
        .post(cloud.url("/v1/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap().to_vec();
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_does_not_stall_the_server() {
    for backend in support::backends() {
        // Limits off: this is about the hashing, not about refusing the flood.
        let cloud = Cloud::start_with(backend, |config| config.limits = Limits::off()).await;
        eprintln!("backend: {backend:?}");
        let (_, email) = confirmed_member(&cloud, "flooded").await;
        let quiet = healthz_latencies(&cloud, 30).await;

        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut guessers = Vec::new();
        for i in 0..16 {
            let (http, url, email, stop) = (cloud.http.clone(), cloud.url("/v1/login"), email.clone(), stop.clone());
            guessers.push(tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 2_000 {
                    let guess = json!({"email": email, "password": format!("guess {i} {n}")});
                    let status = http.post(&url).json(&guess).send().await.unwrap().status();
                    assert!(matches!(status.as_u16(), 401 | 429), "{status}");
                    n += 1;
                }
                n
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let flooded = healthz_latencies(&cloud, 30).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut guesses = 0;
        for guesser in guessers {
            guesses += guesser.await.unwrap();
        }
        eprintln!(
            "healthz p50/p99 quiet {:?}/{:?}, during a flood of 16 concurrent wrong-password logins {:?}/{:?} \
             ({guesses} guesses)",
            percentile(&quiet, 50),
            percentile(&quiet, 99),
            percentile(&flooded, 50),
            percentile(&flooded, 99),
        );
        assert!(percentile(&flooded, 50) < Duration::from_millis(150), "healthz stalls during a login flood");
        cloud.finish().await;
    }
}

#[tokio::test]
async fn a_guesser_cannot_tell_unknown_emails_wrong_passwords_and_members_without_a_password_apart() {
    on_every_backend!(|cloud| {
        let (_, email) = confirmed_member(&cloud, "known").await;
        // A native member who has not confirmed (no password yet)...
        let native = cloud.org("Native 2", BEFORE_DECEMBER_2023, None).await;
        cloud.member(&native.integration_token, "pending", &[]).await;
        // ...and a branded-app member (never a password).
        let branded = cloud.org("Branded", AFTER_DECEMBER_2023, None).await;
        cloud.member(&branded.integration_token, "branded", &[]).await;

        let unknown = login_raw(&cloud, "nobody@example.com", PASSWORD).await;
        let wrong = login_raw(&cloud, &email, "not the password").await;
        let pending = login_raw(&cloud, "pending@example.com", PASSWORD).await;
        let managed = login_raw(&cloud, "branded@example.com", PASSWORD).await;
        assert_eq!(unknown.0, 401);
        for (what, answer) in [("wrong password", &wrong), ("not confirmed", &pending), ("branded app", &managed)] {
            assert_eq!((answer.0, &answer.1), (unknown.0, &unknown.1), "{what} differs from an unknown email");
        }
        assert_eq!(
            serde_json::from_slice::<Value>(&unknown.1).unwrap()["error"]["code"],
            "invalid_credentials",
            "{}",
            String::from_utf8_lossy(&unknown.1)
        );

        // The same time: an unknown email costs a password hash too (it took 0.9 ms against 54 ms).
        let mut unknown_times = Vec::new();
        let mut wrong_times = Vec::new();
        for i in 0..5 {
            unknown_times.push(login_raw(&cloud, &format!("nobody{i}@example.com"), PASSWORD).await.2);
            wrong_times.push(login_raw(&cloud, &email, &format!("wrong {i}")).await.2);
        }
        unknown_times.sort();
        wrong_times.sort();
        eprintln!("login median: unknown email {:?}, wrong password {:?}", unknown_times[2], wrong_times[2]);
        assert!(unknown_times[2] * 3 > wrong_times[2], "an unknown email answers much faster than a wrong password");

        // The right password still works, whatever the case and spaces of the email.
        let login = json!({"email": format!("  {}  ", email.to_uppercase()), "password": PASSWORD});
        let token = cloud.call(Method::POST, None, "/v1/login", Some(login)).await.ok();
        assert!(token["token"].as_str().unwrap().starts_with("ma_mem_"));
    });
}
