//! What a reader keeps across restarts, and where it keeps it.
//!
//! A reader that forgot its revocation list on a reboot would open again for revoked keys until
//! the next honest tap or poll, and would accept an older list again. So everything that only
//! ever tightens is persisted through a [`ReaderStateStore`] every time it changes:
//!
//! - the newest revocation list applied (sequence, revoked ids) and the minimum epoch;
//! - the clock floor: the latest time the reader has known. A restarted reader's clock never
//!   reads earlier than it, so a clock reset cannot revive expired keys;
//! - the tamper state (a reader pried off the wall stays tampered across a power cycle);
//! - the audit sequence, the boot id that names events, the drop counters, and every event the
//!   cloud has not acknowledged yet, so no attempt is lost or renumbered by a reboot;
//! - the per-credential revocation reasons from the cloud's poll.
//!
//! Nonce state needs nothing on disk: a restarted reader draws a fresh random nonce and has no
//! previous one, so no fast request made before the restart is accepted after it. Fast-exchange
//! secrets are deliberately *not* persisted (no phone's secret ever touches the disk): phones
//! fall back to one full exchange after a reboot.
//!
//! # Using it
//!
//! ```no_run
//! # use std::time::Instant;
//! # use mobile_access_reader::{DriftingClock, FileStateStore, Provisioning, Reader};
//! # fn run(provisioning: &Provisioning, clock: DriftingClock) -> mobile_access_reader::Result<()> {
//! // The BlueZ reader keeps its state in its data directory:
//! let store = FileStateStore::new("/var/lib/mobile-access-reader")?;
//! let reader = Reader::restore(provisioning, clock, Instant::now(), Box::new(store))?;
//! # Ok(()) }
//! ```
//!
//! [`Reader::restore`](crate::Reader::restore) loads the state (none on first start), refuses
//! to start with [`Error::StateDamaged`] or [`Error::StateOfAnotherReader`] rather than
//! silently forget, and from then on saves after every change. [`Reader::new`](crate::Reader::new)
//! is a reader with nothing persisted (tests, simulations).
//!
//! # The file
//!
//! `"MARS"` ‖ format version 1 ‖ body length u32 ‖ body ‖ SHA-256 of everything before. The
//! checksum catches a torn or bit-rotted file (the store writes atomically: a temporary file,
//! fsync, rename, fsync of the directory, so a crash leaves the old or the new file, never half
//! of one); the body is decoded strictly (exact lengths, no trailing bytes, known codes only).

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use mobile_access_protocol::{CredentialId, MemberId, OrgId, ReaderId, Reason, Timestamp, reader::ExchangeKind};
use ring::digest;

use crate::{AuditEntry, Error, Outcome, Result, audit::AuditCounters};

const MAGIC: &[u8; 4] = b"MARS";
/// Version 1, and version 2 which adds the door's owner-verification setting as the cloud last
/// told it; a state without it is still written as version 1, byte for byte what earlier
/// readers wrote.
const FORMAT_VERSION: u8 = 1;
const FORMAT_VERSION_DOOR_SETTINGS: u8 = 2;
const CHECKSUM_LEN: usize = 32;
/// Refuses a state file larger than this before reading it whole (1024 audit entries and 10,000
/// revoked ids are well under 1 MiB).
pub const MAX_STATE_LEN: usize = 4 << 20;

/// Where a reader keeps its [`ReaderState`]: load at start, save after every change. Saving must
/// be atomic (the old state or the new one, never a mix).
pub trait ReaderStateStore: Send {
    /// The saved bytes, or `None` if nothing was ever saved (a reader's first start).
    fn load(&self) -> Result<Option<Vec<u8>>>;
    /// Replaces the saved bytes atomically.
    fn save(&mut self, bytes: &[u8]) -> Result<()>;
}

/// A state file in a directory, replaced atomically: written to a temporary file, fsynced,
/// renamed over the old one, and the directory fsynced.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    path: PathBuf,
    temp: PathBuf,
    dir: PathBuf,
}

impl FileStateStore {
    /// The file name inside the directory.
    pub const FILE_NAME: &'static str = "reader-state.bin";

    /// A store in `dir` (created if missing, 0700 on Unix).
    pub fn new(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_error("creating the state directory", &e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| io_error("restricting the state directory", &e))?;
        }
        Ok(Self { path: dir.join(Self::FILE_NAME), temp: dir.join(format!("{}.tmp", Self::FILE_NAME)), dir })
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ReaderStateStore for FileStateStore {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        match fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("reading the state file", &e)),
            Ok(meta) if meta.len() > MAX_STATE_LEN as u64 => {
                return Err(Error::StateDamaged(format!("state file of {} bytes, limit {MAX_STATE_LEN}", meta.len())));
            }
            Ok(_) => {}
        }
        fs::read(&self.path).map(Some).map_err(|e| io_error("reading the state file", &e))
    }

    fn save(&mut self, bytes: &[u8]) -> Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.temp).map_err(|e| io_error("creating the temporary state file", &e))?;
        file.write_all(bytes).map_err(|e| io_error("writing the temporary state file", &e))?;
        file.sync_all().map_err(|e| io_error("syncing the temporary state file", &e))?;
        drop(file);
        fs::rename(&self.temp, &self.path).map_err(|e| io_error("replacing the state file", &e))?;
        // The rename itself is durable only once the directory is.
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

fn io_error(doing: &str, error: &std::io::Error) -> Error {
    Error::Storage(format!("{doing}: {error}"))
}

/// A store in memory, shared by its clones: tests restart a reader on the same bytes, or damage
/// them, through a clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryStateStore {
    bytes: Arc<Mutex<Option<Vec<u8>>>>,
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes saved last.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        self.bytes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the saved bytes (a test damaging the state).
    pub fn set_bytes(&self, bytes: Option<Vec<u8>>) {
        *self.bytes.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = bytes;
    }
}

impl ReaderStateStore for MemoryStateStore {
    fn load(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.bytes())
    }

    fn save(&mut self, bytes: &[u8]) -> Result<()> {
        self.set_bytes(Some(bytes.to_vec()));
        Ok(())
    }
}

/// Everything a reader keeps across restarts (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderState {
    /// The reader this state belongs to: another reader's state is refused.
    pub reader: ReaderId,
    /// Its organization.
    pub org: OrgId,
    /// The boot id naming this reader's events (kept, so event ids stay stable across restarts).
    pub boot: u64,
    /// The newest revocation list applied (0: none).
    pub revocation_sequence: u32,
    /// Its revoked ids, ascending.
    pub revoked: Vec<CredentialId>,
    /// The minimum revocation epoch.
    pub min_epoch: u32,
    /// The latest time the reader has known: its clock never restarts earlier.
    pub clock_floor: Timestamp,
    /// True if the tamper switch tripped and was not reset.
    pub tampered: bool,
    /// The sequence the next audit entry gets.
    pub audit_next: u64,
    /// The first sequence the cloud has not acknowledged.
    pub audit_acknowledged: u64,
    /// Audit entries dropped for capacity, of any kind.
    pub audit_dropped: u64,
    /// Of those, entries with an authenticated credential.
    pub audit_dropped_authenticated: u64,
    /// Unacknowledged audit entries with their sequence numbers, ascending.
    pub events: Vec<(u64, AuditEntry)>,
    /// Why listed credentials were revoked (from the cloud's poll).
    pub revocation_reasons: Vec<(CredentialId, Reason)>,
    /// Whether the door requires owner verification, as the cloud's poll last said (`None`:
    /// never told; provisioning decides). Kept so a reader restarting offline does not fall
    /// back to a laxer setting than the cloud's.
    pub owner_verification: Option<bool>,
}

impl ReaderState {
    pub(crate) fn audit_counters(&self) -> AuditCounters {
        AuditCounters {
            next: self.audit_next,
            acknowledged: self.audit_acknowledged,
            dropped: self.audit_dropped,
            dropped_authenticated: self.audit_dropped_authenticated,
        }
    }

    /// The file's bytes: header, body, checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.reader.0);
        body.extend_from_slice(&self.org.0);
        body.extend_from_slice(&self.boot.to_be_bytes());
        body.extend_from_slice(&self.revocation_sequence.to_be_bytes());
        body.extend_from_slice(&self.min_epoch.to_be_bytes());
        body.extend_from_slice(&self.clock_floor.0.to_be_bytes());
        body.push(u8::from(self.tampered));
        body.extend_from_slice(&self.audit_next.to_be_bytes());
        body.extend_from_slice(&self.audit_acknowledged.to_be_bytes());
        body.extend_from_slice(&self.audit_dropped.to_be_bytes());
        body.extend_from_slice(&self.audit_dropped_authenticated.to_be_bytes());
        body.extend_from_slice(&(self.revoked.len() as u32).to_be_bytes());
        for id in &self.revoked {
            body.extend_from_slice(&id.0);
        }
        body.extend_from_slice(&(self.revocation_reasons.len() as u32).to_be_bytes());
        for (id, reason) in &self.revocation_reasons {
            body.extend_from_slice(&id.0);
            body.push(*reason as u8);
        }
        body.extend_from_slice(&(self.events.len() as u32).to_be_bytes());
        for (sequence, entry) in &self.events {
            body.extend_from_slice(&sequence.to_be_bytes());
            encode_entry(&mut body, entry);
        }
        let version = match self.owner_verification {
            None => FORMAT_VERSION,
            Some(required) => {
                body.push(u8::from(required));
                FORMAT_VERSION_DOOR_SETTINGS
            }
        };
        let mut out = Vec::with_capacity(MAGIC.len() + 5 + body.len() + CHECKSUM_LEN);
        out.extend_from_slice(MAGIC);
        out.push(version);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        let checksum = digest::digest(&digest::SHA256, &out);
        out.extend_from_slice(checksum.as_ref());
        out
    }

    /// Decodes a state file, strictly: any damage is an [`Error::StateDamaged`] saying what.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_STATE_LEN {
            return Err(damaged(format!("{} bytes, limit {MAX_STATE_LEN}", bytes.len())));
        }
        let split = bytes.len().checked_sub(CHECKSUM_LEN).ok_or_else(|| damaged("shorter than its checksum"))?;
        let (content, checksum) = bytes.split_at(split);
        let mut c = Reader::new(content);
        if c.take(4)? != MAGIC {
            return Err(damaged("not a reader state file (bad magic)"));
        }
        let version = c.u8()?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_DOOR_SETTINGS {
            return Err(damaged(format!("unsupported format version {version}")));
        }
        let declared = c.u32()? as usize;
        if declared != c.remaining() {
            return Err(damaged(format!("body of {} bytes, header says {declared}", c.remaining())));
        }
        if digest::digest(&digest::SHA256, content).as_ref() != checksum {
            return Err(damaged("checksum mismatch (torn or corrupted file)"));
        }
        let reader = ReaderId(c.array()?);
        let org = OrgId(c.array()?);
        let boot = c.u64()?;
        let revocation_sequence = c.u32()?;
        let min_epoch = c.u32()?;
        let clock_floor = Timestamp(c.u32()?);
        let tampered = match c.u8()? {
            0 => false,
            1 => true,
            other => return Err(damaged(format!("tamper flag {other}"))),
        };
        let audit_next = c.u64()?;
        let audit_acknowledged = c.u64()?;
        let audit_dropped = c.u64()?;
        let audit_dropped_authenticated = c.u64()?;
        let count = c.count(CredentialId::LEN)?;
        let revoked = (0..count).map(|_| c.array().map(CredentialId)).collect::<Result<Vec<_>>>()?;
        if !revoked.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(damaged("revoked ids not strictly ascending"));
        }
        let count = c.count(CredentialId::LEN + 1)?;
        let revocation_reasons =
            (0..count).map(|_| Ok((CredentialId(c.array()?), reason(c.u8()?)?))).collect::<Result<Vec<_>>>()?;
        let count = c.count(8 + ENTRY_MIN_LEN)?;
        let events = (0..count).map(|_| Ok((c.u64()?, decode_entry(&mut c)?))).collect::<Result<Vec<_>>>()?;
        if !events.windows(2).all(|w| matches!(w, [(a, _), (b, _)] if a < b)) {
            return Err(damaged("audit events not in sequence"));
        }
        if events.last().is_some_and(|(seq, _)| *seq >= audit_next) || audit_acknowledged > audit_next {
            return Err(damaged("audit counters behind their events"));
        }
        let owner_verification = match version {
            FORMAT_VERSION_DOOR_SETTINGS => Some(match c.u8()? {
                0 => false,
                1 => true,
                other => return Err(damaged(format!("owner verification flag {other}"))),
            }),
            _ => None,
        };
        if c.remaining() != 0 {
            return Err(damaged(format!("{} trailing bytes", c.remaining())));
        }
        Ok(Self {
            reader,
            org,
            boot,
            revocation_sequence,
            revoked,
            min_epoch,
            clock_floor,
            tampered,
            audit_next,
            audit_acknowledged,
            audit_dropped,
            audit_dropped_authenticated,
            events,
            revocation_reasons,
            owner_verification,
        })
    }
}

/// at 4 ‖ exchange 1 ‖ credential flag 1 ‖ member flag 1 ‖ rssi 2 ‖ outcome 1 ‖ reason 1.
const ENTRY_MIN_LEN: usize = 11;

fn encode_entry(out: &mut Vec<u8>, entry: &AuditEntry) {
    out.extend_from_slice(&entry.at.0.to_be_bytes());
    out.push(match entry.exchange {
        ExchangeKind::Full => 0,
        ExchangeKind::Fast => 1,
    });
    match entry.credential {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.0);
        }
        None => out.push(0),
    }
    match entry.member {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.0);
        }
        None => out.push(0),
    }
    encode_rssi(out, entry.rssi);
    let (tag, reason) = match entry.outcome {
        Outcome::Granted => (0, Reason::Granted),
        Outcome::Refused(reason) => (1, reason),
        Outcome::Interrupted(reason) => (2, reason),
    };
    out.push(tag);
    out.push(reason as u8);
}

fn decode_entry(c: &mut Reader<'_>) -> Result<AuditEntry> {
    let at = Timestamp(c.u32()?);
    let exchange = match c.u8()? {
        0 => ExchangeKind::Full,
        1 => ExchangeKind::Fast,
        other => return Err(damaged(format!("exchange kind {other}"))),
    };
    let credential = c.optional()?.map(CredentialId);
    let member = c.optional()?.map(MemberId);
    let rssi = decode_rssi(c)?;
    let tag = c.u8()?;
    let reason = reason(c.u8()?)?;
    let outcome = match (tag, reason) {
        (0, Reason::Granted) => Outcome::Granted,
        (1, reason) => Outcome::Refused(reason),
        (2, reason) => Outcome::Interrupted(reason),
        _ => return Err(damaged(format!("outcome {tag} with reason {}", reason as u8))),
    };
    Ok(AuditEntry { at, exchange, credential, member, rssi, outcome })
}

// The RSSI's encoding lives in these two functions only (its type may change).
/// The RSSI an unmeasured attempt is stored with: no radio reports −32768 dBm.
const UNKNOWN_RSSI: i16 = i16::MIN;

fn encode_rssi(out: &mut Vec<u8>, rssi: Option<i16>) {
    out.extend_from_slice(&rssi.unwrap_or(UNKNOWN_RSSI).to_be_bytes());
}

fn decode_rssi(c: &mut Reader<'_>) -> Result<Option<i16>> {
    let rssi = i16::from_be_bytes(c.array()?);
    Ok((rssi != UNKNOWN_RSSI).then_some(rssi))
}

fn reason(code: u8) -> Result<Reason> {
    Reason::from_code(code).ok_or_else(|| damaged(format!("unknown reason code {code}")))
}

fn damaged(why: impl Into<String>) -> Error {
    Error::StateDamaged(why.into())
}

/// A bounds-checked cursor: every read fails with [`Error::StateDamaged`] instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(damaged(format!("truncated: needed {n} more bytes, {} left", self.bytes.len())));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        let [b] = self.array()?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A count of items of at least `item_len` bytes each, refused before allocating if the
    /// bytes left cannot hold that many.
    fn count(&mut self, item_len: usize) -> Result<usize> {
        let count = self.u32()? as usize;
        if count.saturating_mul(item_len) > self.remaining() {
            return Err(damaged(format!("count {count} exceeds the bytes left")));
        }
        Ok(count)
    }

    fn optional<const N: usize>(&mut self) -> Result<Option<[u8; N]>> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.array().map(Some),
            other => Err(damaged(format!("presence flag {other}"))),
        }
    }
}
