//! Remote unlock, the reader's side: the push path from the cloud. The reader holds a long poll
//! open (`GET /v1/reader/commands`); the cloud answers it the moment a member asks to open this
//! reader's door, the reader opens its relay and reports what it did. A poll that ends empty is
//! simply made again, so a command reaches the reader within one round trip of being queued.
//!
//! Each poll also tells the cloud which nonces a phone may hear from the reader until the next
//! poll (the previous, the current and [`ANNOUNCED_NONCES`] drawn ahead: `Reader::announce_nonces`).
//! Where an organization requires a phone to prove it is at the door, the proof is a nonce it
//! heard, which the cloud checks against this list.
//!
//! Failures never stop the loop: a poll that fails at once (the cloud restarting, the network
//! gone) is retried after a pause that doubles up to [`RETRY_MAX`], and the first success resets
//! it; a poll that broke after it was held open is made again at once.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use mobile_access_api::{CommandKind, CommandOutcome, CommandResult, ReaderCommand, ReaderCommands};
use mobile_access_protocol::Nonce;

use super::{ReaderLink, SharedReader, cloud_error};
use crate::{Error, Result, hex};

/// How long the cloud holds each poll open while no command waits (its maximum).
const COMMAND_POLL_WAIT: Duration = Duration::from_secs(25);

/// Nonces drawn ahead and announced with each poll: at the protocol's 500 ms a nonce, 48 s of
/// advertising at rest, so a poll (25 s) ends well before they run out even at a busy door
/// (each exchange also rotates the nonce). Past them, a phone's proof is refused until the
/// next poll announces more.
const ANNOUNCED_NONCES: usize = 96;

/// The first pause after a failed poll; it doubles with each failure in a row. Short, so that
/// after a brief outage a command whose answer was lost still reaches the reader within its
/// validity (the cloud's 3 s): 250 ms, 500 ms, 1 s, 2 s, … up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(250);

/// A poll held open at least this long reached the cloud: if it then breaks, the reader polls
/// again at once.
const HELD: Duration = Duration::from_secs(1);

/// The longest pause between failed polls.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// How many commands the reader remembers having acted on. The cloud gives a command to every
/// poll until the reader's result arrives (a poll whose answer was lost may have carried it),
/// so a command seen again is reported again, never acted on twice.
const REMEMBERED: usize = 64;

impl ReaderLink {
    /// One long poll: tells the cloud the reader is online and which `nonces` a phone may hear,
    /// and returns the commands waiting for the reader, at once if there are any, or none after
    /// `wait`.
    pub async fn commands(&self, nonces: &[Nonce], wait: Duration) -> Result<Vec<ReaderCommand>> {
        let mut path = format!("/v1/reader/commands?wait_secs={}", wait.as_secs());
        // None to announce: the parameter is left out (the cloud keeps the list it holds), never
        // sent empty, which it would refuse.
        if !nonces.is_empty() {
            path.push_str("&nonces=");
            path.push_str(&nonces.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
        }
        let body = self.call_within(reqwest::Method::GET, &path, None, wait + super::REQUEST_TIMEOUT).await?;
        let answer: ReaderCommands = serde_json::from_value(body).map_err(cloud_error)?;
        Ok(answer.commands)
    }

    /// Tells the cloud what the reader did with command `command_id`.
    pub async fn report(&self, command_id: &str, outcome: CommandOutcome) -> Result<()> {
        if hex::decode_array::<16>(command_id).is_none() {
            return Err(Error::Cloud(format!("command id {command_id:?} is not 16 bytes of lowercase hex")));
        }
        let body = serde_json::to_value(CommandResult { outcome }).map_err(cloud_error)?;
        self.call(reqwest::Method::POST, &format!("/v1/reader/commands/{command_id}/result"), Some(body)).await?;
        Ok(())
    }

    /// What an online reader runs beside [`ReaderLink::run`]: long polls for commands, one
    /// after the other, forever, acting on each command as it arrives and reporting it.
    pub async fn serve_commands(&self, reader: &impl SharedReader) {
        let mut done = VecDeque::new();
        let mut retry = RETRY_FIRST;
        loop {
            let nonces =
                reader.with_reader(|r, now| r.announce_nonces(ANNOUNCED_NONCES, now)).unwrap_or_else(|error| {
                    tracing::warn!(%error, "no nonces to announce: phones' proofs of proximity will be refused");
                    Vec::new()
                });
            let started = Instant::now();
            let polled = self.commands(&nonces, COMMAND_POLL_WAIT).await;
            match polled {
                Ok(commands) => {
                    retry = RETRY_FIRST;
                    for command in commands {
                        self.execute(reader, &command, &mut done).await;
                    }
                }
                // A poll that was held open a while and then broke (a proxy's idle timeout, a
                // lost answer, a server restarting) reached the cloud: poll again at once, since
                // a command may be waiting. One that failed at once backs off.
                Err(error) if started.elapsed() >= HELD => {
                    tracing::info!(%error, "command poll broke after it was held; polling again");
                    retry = RETRY_FIRST;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?retry, "command poll failed");
                    self.pause(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Acts on one command once (remembering it in `done`) and reports the outcome.
    async fn execute(
        &self,
        reader: &impl SharedReader,
        command: &ReaderCommand,
        done: &mut VecDeque<(String, CommandOutcome)>,
    ) {
        let outcome = match done.iter().find(|(id, _)| *id == command.command_id) {
            Some((_, outcome)) => *outcome,
            None => {
                let outcome = act(reader, command, Instant::now());
                done.push_back((command.command_id.clone(), outcome));
                if done.len() > REMEMBERED {
                    done.pop_front();
                }
                outcome
            }
        };
        tracing::info!(command = %command.command_id, ?outcome, "remote unlock command");
        if let Err(error) = self.report(&command.command_id, outcome).await {
            // The cloud gives the command again with the next poll; it is reported again then.
            tracing::warn!(%error, command = %command.command_id, "command result not delivered");
        }
    }
}

/// Carries out `command`, received at `received`: within its validity (counted on the reader's
/// own clock from receipt, so the reader's and the cloud's clocks need not agree), or not at
/// all once the member has stopped waiting.
fn act(reader: &impl SharedReader, command: &ReaderCommand, received: Instant) -> CommandOutcome {
    let valid_for = Duration::from_millis(u64::from(command.valid_for_ms));
    match command.kind {
        CommandKind::Open => reader.with_reader(|r, now| {
            if received.elapsed() >= valid_for {
                CommandOutcome::Expired
            } else if r.open_on_command(now) {
                CommandOutcome::Opened
            } else {
                CommandOutcome::Failed
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use mobile_access_protocol::{LockId, OrgId, OrganizationKey, ReaderId, Timestamp};
    use ring::rand::SystemRandom;

    use super::*;
    use crate::{DriftingClock, Feedback, Light, Provisioning, Reader, ReaderToken};

    struct Held(Mutex<Reader>);

    impl SharedReader for Held {
        fn with_reader<R>(&self, f: impl FnOnce(&mut Reader, Instant) -> R) -> R {
            f(&mut self.0.lock().unwrap(), Instant::now())
        }
    }

    fn provisioning() -> Provisioning {
        let rng = SystemRandom::new();
        let org = OrganizationKey::generate(OrgId([4; 8]), &rng).unwrap();
        let mut provisioning = Provisioning::generate(&org, ReaderId([1; 8]), LockId(1), "Lab", &rng).unwrap();
        provisioning.reader_token = Some(ReaderToken("reader-token".to_owned()));
        provisioning
    }

    fn held(provisioning: &Provisioning) -> Held {
        let now = Instant::now();
        Held(Mutex::new(Reader::new(provisioning, DriftingClock::new(now, Timestamp(1_800_000_000), 0), now).unwrap()))
    }

    fn open(id: u8, valid_for_ms: u32) -> ReaderCommand {
        ReaderCommand {
            command_id: format!("{id:02x}").repeat(16),
            kind: CommandKind::Open,
            member_id: "ab".repeat(16),
            issued_at: 1_800_000_000,
            valid_for_ms,
        }
    }

    fn lights(reader: &Held) -> Vec<Light> {
        reader
            .with_reader(|r, _| r.drain_feedback())
            .into_iter()
            .filter_map(|event| match event.feedback {
                Feedback::Signal { light, .. } => Some(light),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_command_opens_within_its_validity_and_never_after_nor_while_tampered() {
        let provisioning = provisioning();
        let reader = held(&provisioning);
        // Received longer ago than it was valid for: the member stopped waiting.
        let late = Instant::now() - Duration::from_millis(50);
        assert_eq!(act(&reader, &open(1, 20), late), CommandOutcome::Expired);
        assert!(lights(&reader).is_empty() && !reader.with_reader(|r, _| r.relay_is_open()));

        assert_eq!(act(&reader, &open(2, 3_000), Instant::now()), CommandOutcome::Opened);
        assert_eq!(lights(&reader), [Light::Green]);
        assert!(reader.with_reader(|r, _| r.relay_is_open()));

        // Pried off the wall, with tamper protection: no remote opening either.
        let mut protected = provisioning.clone();
        protected.tamper_protection = true;
        let reader = held(&protected);
        reader.with_reader(|r, _| r.trip_tamper());
        assert_eq!(act(&reader, &open(3, 3_000), Instant::now()), CommandOutcome::Failed);
        assert!(!reader.with_reader(|r, _| r.relay_is_open()));
    }

    /// A cloud on loopback that answers one request with no commands and hands back its
    /// request line.
    fn one_answer() -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (sent, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            std::io::BufReader::new(&stream).read_line(&mut line).unwrap();
            let body = r#"{"commands":[]}"#;
            write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
            sent.send(line).unwrap();
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_poll_with_no_nonces_to_announce_leaves_the_parameter_out() {
        let provisioning = provisioning();
        for (nonces, expected) in [
            (vec![], "GET /v1/reader/commands?wait_secs=0 HTTP/1.1\r\n".to_owned()),
            (
                vec![Nonce([1; 8])],
                "GET /v1/reader/commands?wait_secs=0&nonces=0101010101010101 HTTP/1.1\r\n".to_owned(),
            ),
        ] {
            let (url, seen) = one_answer();
            let link = ReaderLink::new(&url, &provisioning).unwrap();
            assert!(link.commands(&nonces, Duration::ZERO).await.unwrap().is_empty());
            assert_eq!(seen.recv().unwrap(), expected);
        }
    }

    #[tokio::test]
    async fn a_command_given_again_is_reported_again_and_never_acted_on_twice() {
        let provisioning = provisioning();
        let reader = held(&provisioning);
        // No cloud there: every report fails, so the cloud would give the command again.
        let link = ReaderLink::new("http://127.0.0.1:9", &provisioning).unwrap();
        let mut done = VecDeque::new();
        link.execute(&reader, &open(7, 3_000), &mut done).await;
        assert_eq!(lights(&reader), [Light::Green]);
        link.execute(&reader, &open(7, 3_000), &mut done).await;
        assert!(lights(&reader).is_empty(), "acted on once");
        assert_eq!(done.iter().map(|(_, outcome)| *outcome).collect::<Vec<_>>(), [CommandOutcome::Opened]);
        // Another command is another opening; the memory stays bounded.
        for id in 8..(8 + REMEMBERED as u8 + 4) {
            link.execute(&reader, &open(id, 3_000), &mut done).await;
        }
        assert_eq!(done.len(), REMEMBERED);
    }
}
