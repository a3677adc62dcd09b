//! Mail as the member gets it: the cloud delivers welcome, invitation and access emails to a real
//! SMTP server on loopback (Python's aiosmtpd, `tests/support/smtp_sink.py`), retries a server
//! that refuses with backoff, gives up on a permanent refusal, and administrators see each mail's
//! delivery but never its body (an invitation's token reaches the member only by mail).
//!
//! Without python3 and aiosmtpd the SMTP tests print one `SKIPPED` line and pass.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mobile_access_cloud::{Backend, Config, Limits, MailConfig, Smtp, SmtpSecurity};
use reqwest::Method;
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, BEFORE_DECEMBER_2023, Cloud};

const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");

/// The aiosmtpd sink, a child of this test process; killed (by its own id) when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts the sink refusing the first `refuse_first` messages with `code`; `None` (after one
    /// loud line) when python3 or aiosmtpd is missing.
    fn start(test: &str, refuse_first: u32, code: u16) -> Option<Self> {
        let probe = Command::new("python3").args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status();
        if !probe.is_ok_and(|status| status.success()) {
            eprintln!(
                "SKIPPED: {test}: needs python3 with aiosmtpd for a real SMTP server on loopback (pip install aiosmtpd)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(SINK)
            .arg(dir.path())
            .arg(refuse_first.to_string())
            .arg(code.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the SMTP sink did not start: {line:?}"));
        Some(Self { child, port, dir })
    }

    /// What the cloud's configuration needs to deliver here (retries after 1 s, 2 s, …).
    fn mail_config(&self) -> MailConfig {
        MailConfig {
            smtp: Some(Smtp {
                host: "127.0.0.1".to_owned(),
                port: self.port,
                security: SmtpSecurity::Plain,
                from: "Acme Access <access@acme.test>".to_owned(),
                credentials: None,
                timeout: Duration::from_secs(10),
            }),
            poll_interval: Duration::from_millis(100),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(10),
            ..MailConfig::default()
        }
    }

    /// Messages received so far, in order.
    fn received(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()).collect()
    }

    /// Waits up to `within` for `n` messages.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n || started.elapsed() > within {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// When each DATA command arrived (refused ones included), in seconds since the epoch.
    fn attempts(&self) -> Vec<f64> {
        let log = self.dir.path().join("attempts.log");
        let text = if Path::new(&log).exists() { std::fs::read_to_string(log).unwrap() } else { String::new() };
        text.lines().map(|line| line.parse().unwrap()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_cloud(backend: Backend, mail: MailConfig) -> Cloud {
    Cloud::start_with(backend, move |config: &mut Config| {
        config.mail = mail;
        config.limits = Limits::off();
    })
    .await
}

async fn outbox(cloud: &Cloud, admin: &str) -> Vec<Value> {
    cloud.get(admin, "/v1/admin/outbox").await.ok()["items"].as_array().unwrap().clone()
}

/// Waits until the outbox's only mail satisfies `done`; returns it.
async fn wait_for_outbox(cloud: &Cloud, admin: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let mails = outbox(cloud, admin).await;
        assert_eq!(mails.len(), 1, "{mails:?}");
        if done(&mails[0]) || started.elapsed() > within {
            return mails[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_recipient<'a>(received: &'a [Value], to: &str, subject_starts: &str) -> &'a Value {
    received
        .iter()
        .find(|m| m["rcpt_tos"] == json!([to]) && m["subject"].as_str().unwrap().starts_with(subject_starts))
        .unwrap_or_else(|| panic!("no mail to {to} with subject {subject_starts:?} in {received:?}"))
}

#[tokio::test]
async fn welcome_invitation_and_access_mails_reach_the_member_over_smtp() {
    for backend in support::backends() {
        let Some(sink) = SmtpSink::start("welcome_invitation_and_access_mails_reach_the_member_over_smtp", 0, 451)
        else {
            return;
        };
        let cloud = start_cloud(backend, sink.mail_config()).await;
        eprintln!("backend: {backend:?}");
        // Native: the welcome mail is an invitation carrying the token.
        let native = cloud.org("Native Co", BEFORE_DECEMBER_2023, None).await;
        cloud.member(&native.integration_token, "nat", &[]).await;
        // Branded app with the welcome email and the access email on: a welcome without token,
        // and an access mail for the group.
        let branded = cloud.org("Branded Co", AFTER_DECEMBER_2023, None).await;
        let admin = &branded.admin_token;
        cloud.patch(admin, "/v1/admin/settings", json!({"welcome_email": true, "invitation_mail": true})).await.ok();
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "Members", &[&door]).await;
        cloud.member(&branded.integration_token, "bra", &["Members"]).await;

        let started = Instant::now();
        let received = sink.wait_for(3, Duration::from_secs(20)).await;
        eprintln!("{backend:?}: 3 mails delivered in {:?}", started.elapsed());
        assert_eq!(received.len(), 3, "{received:?}");
        for mail in &received {
            assert_eq!(mail["mail_from"], "access@acme.test");
            assert_eq!(mail["from"], "Acme Access <access@acme.test>");
            assert_eq!(mail["content_type"], "text/plain");
        }

        let invitation = by_recipient(&received, "nat@example.com", "Welcome to Native Co");
        let body = invitation["body"].as_str().unwrap().replace("\r\n", "\n");
        assert!(body.starts_with("Hello nat,\n\nNative Co gave you mobile access."), "{body}");
        let token = support::token_in(&body);
        // The token in the mail is the member's: it sets their password.
        let accept = json!({"token": token, "password": "a good password"});
        cloud.call(Method::POST, None, "/v1/invitations/accept", Some(accept)).await.ok();
        let login = json!({"email": "nat@example.com", "password": "a good password"});
        cloud.call(Method::POST, None, "/v1/login", Some(login)).await.ok();

        let welcome = by_recipient(&received, "bra@example.com", "Welcome to Branded Co");
        let body = welcome["body"].as_str().unwrap();
        assert!(body.contains("Open the app to unlock your doors.") && !body.contains("ma_inv_"), "{body}");
        let access = by_recipient(&received, "bra@example.com", "You now have access to Members");
        assert!(access["body"].as_str().unwrap().contains("Branded Co gave you access to the doors of Members."));

        // Administrators see the delivery, never a body or a token.
        for (org, kinds) in [(&native, vec!["invitation"]), (&branded, vec!["welcome", "access"])] {
            let mails = outbox(&cloud, &org.admin_token).await;
            assert_eq!(mails.iter().map(|m| m["kind"].as_str().unwrap()).collect::<Vec<_>>(), kinds);
            for mail in &mails {
                assert_eq!((mail["state"].as_str(), mail["attempts"].as_u64()), (Some("sent"), Some(1)), "{mail}");
                assert!(mail["sent_at"].as_u64().is_some() && mail["next_attempt_at"].is_null(), "{mail}");
                assert!(mail.get("body").is_none(), "{mail}");
            }
            let text = serde_json::to_string(&mails).unwrap();
            assert!(!text.contains("ma_inv_") && !text.contains(&token), "the outbox shows a token: {text}");
        }
        cloud.finish().await;
    }
}

#[tokio::test]
async fn a_server_that_refuses_at_first_gets_the_mail_on_a_later_attempt_with_backoff() {
    for backend in support::backends() {
        let Some(sink) = SmtpSink::start("a_server_that_refuses_at_first_gets_the_mail_on_a_later_attempt", 2, 451)
        else {
            return;
        };
        // Retries 2 s, then 4 s after a refusal. Times are whole seconds in the database, so each
        // wait is up to 1 s shorter: between 1 and 2 s, then between 3 and 4 s.
        let cloud = start_cloud(backend, MailConfig { retry_base: Duration::from_secs(2), ..sink.mail_config() }).await;
        eprintln!("backend: {backend:?}");
        let org = cloud.org("Native Co", BEFORE_DECEMBER_2023, None).await;
        cloud.member(&org.integration_token, "nat", &[]).await;

        // The first refusal is recorded: still queued, one attempt, the server's answer, a retry due.
        let refused =
            wait_for_outbox(&cloud, &org.admin_token, Duration::from_secs(10), |m| !m["last_error"].is_null()).await;
        assert_eq!((refused["state"].as_str(), refused["attempts"].as_u64()), (Some("queued"), Some(1)), "{refused}");
        assert!(refused["last_error"].as_str().unwrap().contains("Refused by the test sink"), "{refused}");
        assert!(refused["next_attempt_at"].as_u64().unwrap() > refused["created_at"].as_u64().unwrap(), "{refused}");
        assert!(sink.received().is_empty());

        let received = sink.wait_for(1, Duration::from_secs(30)).await;
        assert_eq!(received.len(), 1, "delivered on the third attempt");
        assert_eq!(received[0]["rcpt_tos"], json!(["nat@example.com"]));
        let sent = wait_for_outbox(&cloud, &org.admin_token, Duration::from_secs(5), |m| m["state"] == "sent").await;
        assert_eq!((sent["state"].as_str(), sent["attempts"].as_u64()), (Some("sent"), Some(3)), "{sent}");
        assert!(sent["last_error"].is_null(), "{sent}");

        // The backoff doubled.
        let at = sink.attempts();
        assert_eq!(at.len(), 3, "{at:?}");
        let (first, second) = (at[1] - at[0], at[2] - at[1]);
        eprintln!("{backend:?}: waits between attempts {first:.2} s, {second:.2} s");
        assert!((1.0..2.6).contains(&first) && (3.0..4.6).contains(&second), "waits {first:.2} s, {second:.2} s");
        cloud.finish().await;
    }
}

#[tokio::test]
async fn a_permanent_refusal_is_not_retried() {
    for backend in support::backends() {
        let Some(sink) = SmtpSink::start("a_permanent_refusal_is_not_retried", 1, 550) else {
            return;
        };
        let cloud = start_cloud(backend, sink.mail_config()).await;
        let org = cloud.org("Native Co", BEFORE_DECEMBER_2023, None).await;
        cloud.member(&org.integration_token, "nat", &[]).await;
        let failed =
            wait_for_outbox(&cloud, &org.admin_token, Duration::from_secs(10), |m| m["state"] != "queued").await;
        assert_eq!((failed["state"].as_str(), failed["attempts"].as_u64()), (Some("failed"), Some(1)), "{failed}");
        assert!(failed["last_error"].as_str().unwrap().contains("550"), "{failed}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(sink.attempts().len(), 1, "not tried again");
        cloud.finish().await;
    }
}

#[tokio::test]
async fn without_an_smtp_server_mail_stays_queued_and_shows_no_body() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Native Co", BEFORE_DECEMBER_2023, None).await;
        cloud.member(&org.integration_token, "nat", &[]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mails = outbox(&cloud, &org.admin_token).await;
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!((mail["state"].as_str(), mail["attempts"].as_u64()), (Some("queued"), Some(0)), "{mail}");
        assert_eq!(mail["next_attempt_at"], mail["created_at"], "due at once");
        assert!(mail.get("body").is_none() && !mail.to_string().contains("ma_inv_"), "{mail}");
    });
}
