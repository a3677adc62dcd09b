//! The harness as a newcomer runs it: the demo's every step asserted from its JSON output, and
//! the real-radio commands failing fast and clearly where there is no Bluetooth adapter.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::{
    process::Command,
    time::{Duration, Instant},
};

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mobile-access-harness"))
}

#[test]
fn the_demo_shows_every_step_and_exits_zero() {
    let output = harness().args(["demo", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let steps = report["steps"].as_array().unwrap();
    let texts = |i: usize| -> Vec<String> {
        steps[i]["events"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(steps.len(), 14);
    for step in steps {
        assert_eq!(step["ok"], true, "{step}");
    }
    // Hidden off the home screen, shown on it.
    assert!(steps[0]["observed"].as_str().unwrap().contains("hidden elsewhere: true; shown at home: true"));
    // The first tap: validate, download, search, tap required, the phone comes close, green, open.
    let first = texts(1);
    let order = [
        "Validating",
        "DownloadingKey",
        "Searching",
        "TapRequired",
        "holds her phone",
        "Unlocking",
        "green light",
        "relay opened",
        "Unlocked",
    ];
    let mut at = 0;
    for wanted in order {
        let found =
            first[at..].iter().position(|t| t.contains(wanted)).unwrap_or_else(|| panic!("{wanted} in {first:?}"));
        at += found + 1;
    }
    assert!(steps[1]["observed"].as_str().unwrap().contains("1 HTTP request"));
    // The cloud down: still opens, no request.
    assert!(steps[2]["observed"].as_str().unwrap().contains("Fast exchange, 0 HTTP request"));
    assert!(texts(2).iter().any(|t| t.contains("green light")));
    // A range reader opens from 1.5 m with no tap.
    assert!(!texts(3).iter().any(|t| t.contains("TapRequired")));
    // No access group: no button. Not confirmed: a clear refusal.
    assert!(steps[4]["observed"].as_str().unwrap().contains("button hidden: true"));
    assert!(steps[5]["observed"].as_str().unwrap().contains("not confirmed"));
    // The refused attempt: red light and error sound.
    assert!(texts(6).iter().any(|t| t.contains("red light, error sound")));
    // Remote unlock from home, Bluetooth off: the reader opens, the report says which path.
    assert!(steps[7]["observed"].as_str().unwrap().contains("remote unlock over the network"));
    assert!(texts(7).iter().any(|t| t.contains("relay opened")));
    assert!(texts(7).iter().any(|t| t.contains("relay closed")), "a remotely opened door locks again");
    // Owner verification at the server room: the prompt shows, a cancel keeps the door shut
    // with "verify it's you", a verified tap opens it with a full exchange.
    assert!(steps[8]["observed"].as_str().unwrap().contains("declined: \"This door asks you to verify it's you"));
    assert!(steps[8]["observed"].as_str().unwrap().contains("then Unlocked at Server room (Full exchange"));
    assert!(texts(8).iter().any(|t| t.contains("VerifyingOwner")));
    assert!(texts(8).iter().any(|t| t.contains("relay opened")));
    // Hands-free: a walk past opens nothing, stopping at the door opens it once.
    assert!(
        steps[9]["observed"]
            .as_str()
            .unwrap()
            .contains("openings after walking past: 0; after stopping at the door for 15 s: 1")
    );
    assert_eq!(texts(9).iter().filter(|t| t.contains("green light")).count(), 1);
    // Wallet pass: eligible, added on iPhone and watch; the watch's NFC tap opens the Reader Pro
    // 2.1 with no app, and the Reader Pro 2 refuses the pass.
    assert!(texts(10).iter().any(|t| t.contains("eligible: true")));
    assert!(steps[10]["observed"].as_str().unwrap().contains("on the watch: true; watch bound"));
    assert!(steps[11]["observed"].as_str().unwrap().contains("NFC tap: unlocked"));
    assert!(texts(11).iter().any(|t| t.contains("relay opened")));
    assert!(!texts(11).iter().any(|t| t.contains("Validating") || t.contains("Searching")), "no app involved");
    assert!(texts(12).iter().any(|t| t.contains("red light, error sound (this reader does not accept wallet passes)")));
    // Two organizations: one button opens the nearest door of either, each with its own key,
    // and each cloud hears only of its own door.
    let organizations = steps[13]["observed"].as_str().unwrap();
    assert!(organizations.contains("with the upstairs key; downstairs: Unlocked at Meeting room"), "{organizations}");
    assert!(
        organizations.contains("with the primary key; 2 results uploaded, each to its own cloud"),
        "{organizations}"
    );
    assert_eq!(texts(13).iter().filter(|t| t.contains("green light")).count(), 2);
    // Simulated time is deterministic and small: the network never shows up in it.
    let first_tap_ms = steps[1]["sim_ms"].as_f64().unwrap();
    assert!(first_tap_ms < 10_000.0, "{first_tap_ms}");
}

#[test]
fn the_demo_prints_plain_text_when_piped() {
    let output = harness().output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no colour codes in a pipe");
    assert!(text.contains("14/14 steps behaved as shown"));
}

#[test]
fn scan_and_unlock_without_an_adapter_fail_fast_with_one_clear_line() {
    for args in
        [&["scan"][..], &["unlock", "--cloud", "http://127.0.0.1:9", "--token", "t", "--keys", "/nonexistent/keys"]]
    {
        let started = Instant::now();
        let output = harness().args(args).output().unwrap();
        let elapsed = started.elapsed();
        if output.status.success() {
            continue; // a machine with a working adapter
        }
        assert!(elapsed < Duration::from_millis(1500), "{args:?} took {elapsed:?}");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: Bluetooth"), "{stderr}");
    }
}
