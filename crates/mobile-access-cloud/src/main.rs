//! `mobile-access-cloud`: run the access cloud, seed the demo, and do by hand what an operator
//! does (create organizations, doors, readers, groups; list users; suspend credentials).
//!
//! Every command works on the database directly (`--data-dir` or `--database-url`), so it
//! works with the server running or not. Results are printed as JSON on stdout; tokens and
//! reader secrets appear there once and nowhere else. Logs go to stderr (`RUST_LOG`).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use mobile_access_cloud::{
    Actor, Config, DEFAULT_DATA_DIR, Error, Limits, MailConfig, Rate, Result, Retention, Smtp, SmtpCredentials,
    SmtpSecurity, Store, Timeouts,
    api::{
        CredentialStatus, MemberSync, NewAccessGroup, NewDoor, NewOrganization, NewReader, PageQuery, ReaderMode, Role,
        SettingsPatch, StartSwitch, SwitchJob, SwitchPreviewQuery, SyncReport, UnlockMethod,
    },
    demo,
    proxy::Cidr,
};
use serde::Serialize;

#[derive(Parser)]
#[command(name = "mobile-access-cloud", version, about = "The reference access cloud for mobile access")]
struct Cli {
    /// Holds the SQLite database and master.key.
    #[arg(long, global = true, env = "MOBILE_ACCESS_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Use this database instead of the SQLite file (postgres://user:pass@host/db).
    #[arg(long, global = true, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Log lines as JSON (one object per line) or plain text; `auto`: JSON unless stderr is a
    /// terminal. Text never has colour codes.
    #[arg(long, global = true, env = "MOBILE_ACCESS_LOG_FORMAT", default_value = "auto")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum LogFormat {
    /// JSON when stderr is not a terminal (a log collector reads it), text when it is.
    Auto,
    /// One JSON object per line, with the request span (and its `request_id`) in each.
    Json,
    /// Human-readable, without colour codes.
    Text,
}

/// Rate limits are `PER_SECOND,BURST` (e.g. `10,50`), or `off`.
#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Requests of one client address.
    #[arg(long, default_value = "100,500", value_parser = parse_rate)]
    limit_per_address: RateArg,
    /// Authenticated requests of one member (or one admin, integration or reader token).
    #[arg(long, default_value = "10,100", value_parser = parse_rate)]
    limit_per_caller: RateArg,
    /// Failed authentications (wrong password, unknown token or invitation) of one client address.
    #[arg(long, default_value = "1,60", value_parser = parse_rate)]
    limit_failures_per_address: RateArg,
    /// Failed logins naming one email, from anywhere.
    #[arg(long, default_value = "0.1,10", value_parser = parse_rate)]
    limit_failures_per_email: RateArg,
    /// Password hashes computed at once (default: all cores but one).
    #[arg(long)]
    password_concurrency: Option<usize>,
    /// Seconds shutdown waits for requests in flight before giving up on them.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// SMTP server that delivers the outbox (welcome, invitation and access emails). Without
    /// one, mail stays queued.
    #[arg(long, env = "MOBILE_ACCESS_SMTP_HOST")]
    smtp_host: Option<String>,
    /// Its port (default: 587 with starttls, 465 with tls, 25 with plain).
    #[arg(long, env = "MOBILE_ACCESS_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// How the connection is protected: starttls, tls, or plain (a local relay; no login).
    #[arg(long, env = "MOBILE_ACCESS_SMTP_SECURITY", value_enum, default_value = "starttls")]
    smtp_security: SecurityArg,
    /// The From address, e.g. "Acme Access <access@acme.example>" (required with --smtp-host).
    #[arg(long, env = "MOBILE_ACCESS_SMTP_FROM")]
    smtp_from: Option<String>,
    /// SMTP login user. Its password is read from MOBILE_ACCESS_SMTP_PASSWORD only: a flag would
    /// show in the process list.
    #[arg(long, env = "MOBILE_ACCESS_SMTP_USER")]
    smtp_user: Option<String>,
    /// Days audit entries are kept.
    #[arg(long, default_value_t = 400)]
    audit_retention_days: u64,
    /// Days sent (or given-up) mails are kept.
    #[arg(long, default_value_t = 30)]
    mail_retention_days: u64,
    /// Seconds between pruning passes (expired keys and sessions, old audit entries and mails).
    #[arg(long, default_value_t = 3600)]
    retention_interval_secs: u64,
    /// Database connections in the pool (default: four per core, 8 to 32).
    #[arg(long, env = "MOBILE_ACCESS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Seconds a client may take to send a request's line and headers, from its first byte.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_secs: u64,
    /// Seconds a connection may sit with no request in flight and nothing sent before it is closed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_secs: u64,
    /// Seconds a request may take before it is answered 503 `timeout` (its handler still finishes).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout_secs: u64,
    /// Serve Prometheus metrics at GET /metrics on this address, unauthenticated: bind it to a
    /// private interface (default: no metrics listener).
    #[arg(long, env = "MOBILE_ACCESS_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// A proxy (address or CIDR block) whose X-Forwarded-For names the client for rate limits;
    /// repeat or separate with commas. Default: none, the header is ignored.
    #[arg(long = "trusted-proxy", env = "MOBILE_ACCESS_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<Cidr>,
    /// The oldest app SDK served (MAJOR.MINOR.PATCH): an app whose User-Agent names an older
    /// `mobile-access-sdk/` is answered 426 and tells its member to update; its keys keep
    /// opening doors. Default: every version.
    #[arg(long, env = "MOBILE_ACCESS_MIN_SDK_VERSION")]
    min_sdk_version: Option<mobile_access_cloud::sdk_version::SdkVersion>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SecurityArg {
    Starttls,
    Tls,
    Plain,
}

/// The environment variable holding the SMTP password.
const SMTP_PASSWORD_ENV: &str = "MOBILE_ACCESS_SMTP_PASSWORD";

/// The mail configuration the serve flags describe.
fn mail_config(args: &ServeArgs) -> Result<MailConfig> {
    let Some(host) = &args.smtp_host else { return Ok(MailConfig::default()) };
    let from = args.smtp_from.clone().ok_or_else(|| Error::invalid("--smtp-host needs --smtp-from"))?;
    let (security, default_port) = match args.smtp_security {
        SecurityArg::Starttls => (SmtpSecurity::StartTls, 587),
        SecurityArg::Tls => (SmtpSecurity::Tls, 465),
        SecurityArg::Plain => (SmtpSecurity::Plain, 25),
    };
    let credentials = match &args.smtp_user {
        None => None,
        Some(user) => {
            let password = std::env::var(SMTP_PASSWORD_ENV)
                .map_err(|_| Error::invalid(format!("--smtp-user needs the password in {SMTP_PASSWORD_ENV}")))?;
            Some(SmtpCredentials { user: user.clone(), password: zeroize::Zeroizing::new(password) })
        }
    };
    let smtp = Smtp {
        host: host.clone(),
        port: args.smtp_port.unwrap_or(default_port),
        security,
        from,
        credentials,
        timeout: Duration::from_secs(30),
    };
    Ok(MailConfig { smtp: Some(smtp), ..MailConfig::default() })
}

/// A limit as given on the command line (`None`: off). A newtype, because clap reads an
/// `Option` field as "the flag may be absent".
#[derive(Clone, Copy)]
struct RateArg(Option<Rate>);

fn parse_rate(text: &str) -> std::result::Result<RateArg, String> {
    if text == "off" {
        return Ok(RateArg(None));
    }
    let (rate, burst) = text.split_once(',').ok_or_else(|| format!("{text:?}: expected PER_SECOND,BURST or off"))?;
    let per_second: f64 = rate.trim().parse().map_err(|_| format!("{rate:?} is not a number"))?;
    let burst: u32 = burst.trim().parse().map_err(|_| format!("{burst:?} is not a whole number"))?;
    if !(per_second > 0.0 && per_second.is_finite()) || burst == 0 {
        return Err(format!("{text:?}: the rate and burst must be above 0 (or say off)"));
    }
    Ok(RateArg(Some(Rate::new(per_second, burst))))
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once at start; boxing buys nothing")]
enum Command {
    /// Serve the HTTP API until SIGTERM or Ctrl-C (SIGINT), then stop accepting, finish the
    /// requests in flight, pause switch-over jobs after their batch, and exit 0. Prints the base
    /// URL it serves on (e.g. `http://127.0.0.1:43567`) as one line on stdout once it accepts
    /// connections.
    Serve(ServeArgs),
    /// Create the demo organization and print its tokens.
    SeedDemo {
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Doors.
    #[command(subcommand)]
    Door(DoorCommand),
    /// Readers.
    #[command(subcommand)]
    Reader(ReaderCommand),
    /// Access groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Access users.
    #[command(subcommand)]
    User(UserCommand),
    /// Member sync from a file, as the integration would.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Mobile keys, key fobs, cards.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Switch the unlock method (native ↔ branded app): preview, then a resumable job.
    #[command(subcommand)]
    Switch(SwitchCommand),
    /// Wallet passes: prerequisites, list with devices, suspend, resume, delete.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// The web console's administrators (they sign in at /console).
    #[command(subcommand)]
    ConsoleAdmin(ConsoleAdminCommand),
}

/// The environment variable holding a new console administrator's password.
const ADMIN_PASSWORD_ENV: &str = "MOBILE_ACCESS_ADMIN_PASSWORD";

#[derive(Subcommand)]
enum ConsoleAdminCommand {
    /// Add an administrator of one organization. The password is read from
    /// MOBILE_ACCESS_ADMIN_PASSWORD (a flag would show in the process list); without it one is
    /// generated and printed once.
    Create {
        #[command(flatten)]
        org: OrgArg,
        /// Sign-in email (one administrator per email in the whole cloud).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Set the organization's wallet pass prerequisites (SSO with MFA, subscription).
    Settings {
        #[command(flatten)]
        org: OrgArg,
        /// Single sign-on with multi-factor authentication is on.
        #[arg(long)]
        sso_mfa: Option<bool>,
        /// The wallet pass subscription is active.
        #[arg(long)]
        subscription: Option<bool>,
    },
    /// List wallet passes with the devices each is active on.
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Suspend a pass (reversible): readers refuse it as suspended.
    Suspend {
        #[command(flatten)]
        org: OrgArg,
        /// Pass id.
        #[arg(long)]
        id: String,
    },
    /// Reactivate a suspended pass.
    Resume {
        #[command(flatten)]
        org: OrgArg,
        /// Pass id.
        #[arg(long)]
        id: String,
    },
    /// Delete a pass: readers refuse it as deleted.
    Delete {
        #[command(flatten)]
        org: OrgArg,
        /// Pass id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum SwitchCommand {
    /// Show what the switch would do, and the users it would recreate; changes nothing.
    Preview {
        #[command(flatten)]
        org: OrgArg,
        /// The method to switch to.
        #[arg(long)]
        to: Method,
    },
    /// Switch and run the job to its end, showing progress. Safe to run again: it resumes.
    Start {
        #[command(flatten)]
        org: OrgArg,
        /// The method to switch to.
        #[arg(long)]
        to: Method,
        /// Override the new method's default welcome email setting.
        #[arg(long)]
        welcome_email: Option<bool>,
        /// Users per transaction.
        #[arg(long, default_value_t = mobile_access_cloud::store::DEFAULT_SWITCH_BATCH)]
        batch: usize,
    },
    /// Finish a running switch (after a crash or a stop).
    Resume {
        #[command(flatten)]
        org: OrgArg,
        /// Users per transaction.
        #[arg(long, default_value_t = mobile_access_cloud::store::DEFAULT_SWITCH_BATCH)]
        batch: usize,
    },
    /// The latest switch job and its progress.
    Status {
        #[command(flatten)]
        org: OrgArg,
    },
}

fn method(method: Method) -> UnlockMethod {
    match method {
        Method::Native => UnlockMethod::Native,
        Method::BrandedApp => UnlockMethod::BrandedApp,
    }
}

async fn run_switch_job(store: &Store, org_id: &str, job: SwitchJob, batch: usize) -> Result<()> {
    eprintln!("switch-over to {}: {} / {} users", job.target, job.done, job.total);
    let job = store
        .run_switch(org_id, &job.id, batch, |job| {
            eprintln!("switch-over to {}: {} / {} users", job.target, job.done, job.total);
        })
        .await?;
    print(&job)
}

#[derive(Args)]
struct OrgArg {
    /// Organization id.
    #[arg(long)]
    org: String,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization; prints its admin and integration tokens.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Integration creation date (YYYY-MM-DD or Unix seconds); decides the default unlock method.
        #[arg(long, value_parser = parse_date)]
        created_at: Option<u32>,
        /// Override the default unlock method.
        #[arg(long)]
        unlock_method: Option<Method>,
    },
    /// List organizations.
    List,
}

#[derive(Clone, Copy, ValueEnum)]
enum Method {
    Native,
    BrandedApp,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Tap,
    Range,
}

#[derive(Clone, Copy, ValueEnum)]
enum TokenRole {
    Admin,
    Integration,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create another admin or integration token (e.g. to replace a lost one).
    Create {
        #[command(flatten)]
        org: OrgArg,
        /// Role.
        #[arg(long)]
        role: TokenRole,
    },
}

#[derive(Subcommand)]
enum DoorCommand {
    /// Create a door.
    Create {
        #[command(flatten)]
        org: OrgArg,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Opening it requires owner verification (biometric or passcode on the phone).
        #[arg(long)]
        owner_verification: bool,
    },
    /// List doors with their readers.
    List {
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Subcommand)]
enum ReaderCommand {
    /// Provision a reader on a door; prints the provisioning object (with its secret) once.
    Provision {
        #[command(flatten)]
        org: OrgArg,
        /// Door id.
        #[arg(long)]
        door: String,
        /// Hardware model.
        #[arg(long, default_value = "Reader Pro 2.1")]
        model: String,
        /// Tap or range.
        #[arg(long, default_value = "tap")]
        mode: Mode,
        /// Tamper protection on.
        #[arg(long)]
        tamper_protection: bool,
        /// RSSI at tap distance (dBm).
        #[arg(long, allow_hyphen_values = true)]
        tap_rssi_threshold: Option<i8>,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Create an access group.
    Create {
        #[command(flatten)]
        org: OrgArg,
        /// Name.
        #[arg(long)]
        name: String,
        /// Door ids (repeat).
        #[arg(long = "door")]
        doors: Vec<String>,
    },
    /// List access groups.
    List {
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// List users with their status, managed flag and groups.
    List {
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Subcommand)]
enum MembersCommand {
    /// Sync members from a JSON file shaped like the PUT /v1/integration/members body.
    Sync {
        #[command(flatten)]
        org: OrgArg,
        /// The file.
        #[arg(long)]
        file: PathBuf,
        /// Members per batch (progress is shown per batch).
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// List credentials.
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Suspend a credential.
    Suspend {
        #[command(flatten)]
        org: OrgArg,
        /// Credential id.
        #[arg(long)]
        id: String,
    },
    /// Reactivate a suspended credential.
    Resume {
        #[command(flatten)]
        org: OrgArg,
        /// Credential id.
        #[arg(long)]
        id: String,
    },
    /// Delete a credential.
    Delete {
        #[command(flatten)]
        org: OrgArg,
        /// Credential id.
        #[arg(long)]
        id: String,
    },
}

/// `YYYY-MM-DD` (UTC midnight) or Unix seconds.
fn parse_date(text: &str) -> std::result::Result<u32, String> {
    if let Ok(secs) = text.parse::<u32>() {
        return Ok(secs);
    }
    let parts: Vec<i64> = text
        .split('-')
        .map(|p| p.parse::<i64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("{text:?} is neither YYYY-MM-DD nor Unix seconds"))?;
    let [y, m, d] = parts.as_slice() else { return Err(format!("{text:?} is not YYYY-MM-DD")) };
    if !(1..=12).contains(m) || !(1..=31).contains(d) {
        return Err(format!("{text:?} is not a valid date"));
    }
    // Days from the civil calendar (proleptic Gregorian), after H. Hinnant's algorithm.
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days * 86_400).map_err(|_| format!("{text:?} is outside 1970–2106"))
}

fn print(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn config(cli: &Cli) -> Config {
    Config { database_url: cli.database_url.clone(), ..Config::new(&cli.data_dir) }
}

fn all() -> PageQuery {
    PageQuery { limit: Some(1000), after: None }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Serve(args) = &cli.command {
        let defaults = config(&cli);
        let config = Config {
            listen: args.listen,
            limits: Limits {
                per_address: args.limit_per_address.0,
                per_caller: args.limit_per_caller.0,
                failures_per_address: args.limit_failures_per_address.0,
                failures_per_email: args.limit_failures_per_email.0,
            },
            password_concurrency: args.password_concurrency.unwrap_or(defaults.password_concurrency),
            shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace_secs),
            mail: mail_config(args)?,
            retention: Retention {
                interval: Duration::from_secs(args.retention_interval_secs.max(1)),
                audit_horizon: Duration::from_secs(args.audit_retention_days.saturating_mul(86_400)),
                mail_horizon: Duration::from_secs(args.mail_retention_days.saturating_mul(86_400)),
                ..Retention::default()
            },
            max_connections: args.max_connections.unwrap_or(defaults.max_connections),
            timeouts: Timeouts {
                header_read: std::time::Duration::from_secs(args.header_read_timeout_secs),
                idle: std::time::Duration::from_secs(args.idle_timeout_secs),
                request: std::time::Duration::from_secs(args.request_timeout_secs),
            },
            metrics_listen: args.metrics_listen,
            trusted_proxies: args.trusted_proxies.clone(),
            min_sdk_version: args.min_sdk_version,
            ..defaults
        };
        let handle = mobile_access_cloud::spawn(config).await?;
        // Through the log, not eprintln: with JSON logs every line on stderr must be JSON.
        tracing::info!(url = %handle.base_url(), data_dir = %cli.data_dir.display(), "mobile-access-cloud serving");
        // The ready line: the bound address (useful with `--listen 127.0.0.1:0`), once it accepts.
        println!("{}", handle.base_url());
        let signal = stop_signal().await?;
        tracing::info!(signal, "finishing requests in flight");
        return handle.shutdown().await;
    }
    let store = Store::open(&config(&cli)).await?;
    let op = Actor::Operator;
    let result = match cli.command {
        Command::Serve(_) => Ok(()),
        Command::SeedDemo { json } => {
            let seed = demo::seed(&store, |step| eprintln!("seed-demo: {step}")).await?;
            if json {
                print(&seed)
            } else {
                println!("organization {}", seed.org_id);
                println!("admin token        {}", seed.admin_token);
                println!("integration token  {}", seed.integration_token);
                let admin = &seed.console_admin;
                println!("console sign-in    {} / {} (at /console)", admin.email, admin.password);
                for member in &seed.members {
                    let groups = member.access_groups.join(", ");
                    println!(
                        "member {:<16} {:<13} groups [{groups}] token {}",
                        member.name, member.status, member.token
                    );
                }
                for reader in &seed.readers {
                    println!(
                        "reader {} on {:?} ({}, {})",
                        reader.reader_id, reader.door_name, reader.model, reader.mode
                    );
                }
                Ok(())
            }
        }
        Command::Org(OrgCommand::Create { name, created_at, unlock_method }) => {
            let unlock_method = unlock_method.map(method);
            print(&store.create_organization(NewOrganization { name, created_at, unlock_method }).await?)
        }
        Command::Org(OrgCommand::List) => print(&store.organizations().await?),
        Command::Token(TokenCommand::Create { org, role }) => {
            let role = match role {
                TokenRole::Admin => Role::Admin,
                TokenRole::Integration => Role::Integration,
            };
            print(&serde_json::json!({"token": store.create_token(&org.org, role).await?}))
        }
        Command::ConsoleAdmin(ConsoleAdminCommand::Create { org, email, name }) => {
            let (password, generated) = match std::env::var(ADMIN_PASSWORD_ENV) {
                Ok(password) => (password, false),
                Err(_) => (mobile_access_cloud::crypto::random_id::<12>()?, true),
            };
            let admin = store.create_console_admin(&org.org, &email, &name, &password).await?;
            let password = generated.then_some(password);
            print(
                &serde_json::json!({"id": admin.id, "org_id": admin.org_id, "email": admin.email, "password": password}),
            )
        }
        Command::Door(DoorCommand::Create { org, name, owner_verification }) => {
            print(&store.create_door(&org.org, &op, &NewDoor { name, owner_verification, hands_free: false }).await?)
        }
        Command::Door(DoorCommand::List { org }) => print(&store.doors(&org.org).await?),
        Command::Reader(ReaderCommand::Provision { org, door, model, mode, tamper_protection, tap_rssi_threshold }) => {
            let mode = match mode {
                Mode::Tap => ReaderMode::Tap,
                Mode::Range => ReaderMode::Range,
            };
            let new =
                NewReader { model, mode, tamper_protection, tap_rssi_threshold, tx_power: None, relay_open_ms: None };
            print(&store.provision_reader(&org.org, &op, &door, &new).await?)
        }
        Command::Group(GroupCommand::Create { org, name, doors }) => {
            print(&store.create_access_group(&org.org, &op, &NewAccessGroup { name, door_ids: doors }).await?)
        }
        Command::Group(GroupCommand::List { org }) => print(&store.access_groups(&org.org).await?),
        Command::User(UserCommand::List { org }) => {
            let mut query = all();
            loop {
                let page = store.users(&org.org, &query).await?;
                for user in &page.items {
                    println!("{}", serde_json::to_string(user).unwrap_or_default());
                }
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break Ok(()),
                }
            }
        }
        Command::Members(MembersCommand::Sync { org, file, batch }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|source| Error::Io { context: format!("reading {}", file.display()), source })?;
            let sync: MemberSync = serde_json::from_str(&text).map_err(|e| Error::InvalidJson(e.to_string()))?;
            let total = sync.members.len();
            let mut report = SyncReport::default();
            for (i, chunk) in sync.members.chunks(batch.max(1)).enumerate() {
                let part = store.sync_members(&org.org, &op, &MemberSync { members: chunk.to_vec() }).await?;
                report.created += part.created;
                report.updated += part.updated;
                report.unchanged += part.unchanged;
                report.removed += part.removed;
                report.welcome_emails += part.welcome_emails;
                report.access_emails += part.access_emails;
                eprintln!("members sync: {} / {total}", (i * batch.max(1) + chunk.len()).min(total));
            }
            print(&report)
        }
        Command::Credential(CredentialCommand::List { org }) => print(&store.credentials(&org.org, &all()).await?),
        Command::Credential(CredentialCommand::Suspend { org, id }) => {
            store.set_credential_status(&org.org, &op, &id, CredentialStatus::Suspended).await
        }
        Command::Credential(CredentialCommand::Resume { org, id }) => {
            store.set_credential_status(&org.org, &op, &id, CredentialStatus::Active).await
        }
        Command::Credential(CredentialCommand::Delete { org, id }) => store.delete_credential(&org.org, &op, &id).await,
        Command::Wallet(WalletCommand::Settings { org, sso_mfa, subscription }) => {
            let patch = SettingsPatch { sso_mfa, wallet_pass_subscription: subscription, ..SettingsPatch::default() };
            print(&store.update_settings(&org.org, &op, &patch).await?)
        }
        Command::Wallet(WalletCommand::List { org }) => print(&store.wallet_passes(&org.org, None).await?),
        Command::Wallet(WalletCommand::Suspend { org, id }) => {
            store.set_wallet_pass_status(&org.org, &op, &id, CredentialStatus::Suspended).await
        }
        Command::Wallet(WalletCommand::Resume { org, id }) => {
            store.set_wallet_pass_status(&org.org, &op, &id, CredentialStatus::Active).await
        }
        Command::Wallet(WalletCommand::Delete { org, id }) => store.delete_wallet_pass(&org.org, &op, &id).await,
        Command::Switch(SwitchCommand::Preview { org, to }) => {
            let mut query = SwitchPreviewQuery { to: Some(method(to)), limit: Some(1000), after: None };
            let first = store.preview_switch(&org.org, &query).await?;
            eprintln!(
                "switch {} -> {}: {} users to delete and recreate confirmed ({} memberships, {} key fobs, {} cards \
                 kept), {} untouched, {} invitations, {} welcome emails",
                first.from,
                first.to,
                first.users_to_recreate,
                first.memberships_kept,
                first.key_fobs_kept,
                first.cards_kept,
                first.users_untouched,
                first.invitations,
                first.welcome_emails
            );
            let mut page = first;
            loop {
                for user in &page.users {
                    println!("{}", serde_json::to_string(user).unwrap_or_default());
                }
                match page.next.take() {
                    Some(next) => {
                        query.after = Some(next);
                        page = store.preview_switch(&org.org, &query).await?;
                    }
                    None => break Ok(()),
                }
            }
        }
        Command::Switch(SwitchCommand::Start { org, to, welcome_email, batch }) => {
            let start = StartSwitch { unlock_method: method(to), welcome_email };
            let job = store.start_switch(&org.org, &op, &start).await?;
            run_switch_job(&store, &org.org, job, batch).await
        }
        Command::Switch(SwitchCommand::Resume { org, batch }) => match store.running_switch(&org.org).await? {
            Some(job) => run_switch_job(&store, &org.org, job, batch).await,
            None => {
                eprintln!("switch-over: nothing running");
                match store.last_switch(&org.org).await? {
                    Some(job) => print(&job),
                    None => Ok(()),
                }
            }
        },
        Command::Switch(SwitchCommand::Status { org }) => match store.last_switch(&org.org).await? {
            Some(job) => print(&job),
            None => Err(Error::NotFound("switch job")),
        },
    };
    store.close().await;
    result
}

/// Logs go to stderr (stdout carries command results and the ready line). JSON for machines,
/// text for people, and never colour codes: escape sequences in a log file are noise to every
/// tool that reads it.
fn init_logging(format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| text.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing::Level::INFO)
                .with_target("sqlx", tracing::Level::WARN)
        });
    use std::io::IsTerminal as _;
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let text = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    if json {
        // The current span (the request, with its id) in each line; not the whole span list.
        let json = text.json().with_current_span(true).with_span_list(false);
        tracing_subscriber::registry().with(json).with(filter).init();
    } else {
        tracing_subscriber::registry().with(text).with(filter).init();
    }
}

/// Waits for SIGTERM (what every orchestrator sends) or SIGINT (Ctrl-C); names the one received.
async fn stop_signal() -> Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .map_err(|source| Error::Io { context: "listening for SIGTERM".to_owned(), source })?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = tokio::signal::ctrl_c() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Ok("Ctrl-C")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mobile-access-cloud: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mobile-access-cloud: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    #[test]
    fn the_serve_flags_default_to_the_library_limits_and_parse_off() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from(["mobile-access-cloud", "serve"]).unwrap();
        let super::Command::Serve(args) = cli.command else { panic!("not serve") };
        let defaults = mobile_access_cloud::Limits::default();
        assert_eq!(args.limit_per_address.0, defaults.per_address);
        assert_eq!(args.limit_per_caller.0, defaults.per_caller);
        assert_eq!(args.limit_failures_per_address.0, defaults.failures_per_address);
        assert_eq!(args.limit_failures_per_email.0, defaults.failures_per_email);
        let cli = super::Cli::try_parse_from(["x", "serve", "--limit-per-caller", "off", "--limit-per-address", "5,9"])
            .unwrap();
        let super::Command::Serve(args) = cli.command else { panic!("not serve") };
        assert_eq!(args.limit_per_caller.0, None);
        assert_eq!(args.limit_per_address.0, Some(mobile_access_cloud::Rate::new(5.0, 9)));
        assert!(super::Cli::try_parse_from(["x", "serve", "--limit-per-caller", "0,5"]).is_err());
    }

    #[test]
    fn the_smtp_flags_make_the_mail_configuration() {
        use clap::Parser;
        let serve = |args: &[&str]| {
            let cli = super::Cli::try_parse_from([&["x", "serve"], args].concat()).unwrap();
            let super::Command::Serve(args) = cli.command else { panic!("not serve") };
            super::mail_config(&args)
        };
        assert!(serve(&[]).unwrap().smtp.is_none(), "no SMTP server by default: mail stays queued");
        assert!(serve(&["--smtp-host", "smtp.example"]).is_err(), "a from address is required");
        let mail = serve(&["--smtp-host", "smtp.example", "--smtp-from", "access@example.com"]).unwrap();
        let smtp = mail.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (587, mobile_access_cloud::SmtpSecurity::StartTls));
        assert!(smtp.credentials.is_none());
        let mail = serve(&["--smtp-host", "h", "--smtp-from", "a@b.c", "--smtp-security", "tls"]).unwrap();
        assert_eq!(mail.smtp.unwrap().port, 465);
    }

    #[test]
    fn the_operations_flags_default_to_the_library_settings_and_parse() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from(["x", "serve"]).unwrap();
        assert_eq!(cli.log_format, super::LogFormat::Auto);
        let super::Command::Serve(args) = cli.command else { panic!("not serve") };
        let defaults = mobile_access_cloud::Timeouts::default();
        assert_eq!(args.header_read_timeout_secs, defaults.header_read.as_secs());
        assert_eq!(args.idle_timeout_secs, defaults.idle.as_secs());
        assert_eq!(args.request_timeout_secs, defaults.request.as_secs());
        assert_eq!((args.max_connections, args.metrics_listen), (None, None));
        assert!(args.trusted_proxies.is_empty());
        let cli = super::Cli::try_parse_from([
            "x",
            "serve",
            "--max-connections",
            "3",
            "--trusted-proxy",
            "10.0.0.0/8,127.0.0.1",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.log_format, super::LogFormat::Json);
        let super::Command::Serve(args) = cli.command else { panic!("not serve") };
        assert_eq!(args.max_connections, Some(3));
        assert_eq!(args.trusted_proxies.len(), 2);
        assert!(super::Cli::try_parse_from(["x", "serve", "--max-connections", "0"]).is_err());
        assert!(super::Cli::try_parse_from(["x", "serve", "--idle-timeout-secs", "0"]).is_err());
        assert!(super::Cli::try_parse_from(["x", "serve", "--trusted-proxy", "10.0.0.0/40"]).is_err());
    }

    #[test]
    fn dates_parse_to_utc_midnight() {
        assert_eq!(super::parse_date("2023-12-01"), Ok(1_701_388_800));
        assert_eq!(super::parse_date("1970-01-01"), Ok(0));
        assert_eq!(super::parse_date("1700000000"), Ok(1_700_000_000));
        assert!(super::parse_date("2023-13-01").is_err());
        assert!(super::parse_date("yesterday").is_err());
    }
}
