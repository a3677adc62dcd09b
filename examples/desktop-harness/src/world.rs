//! A whole site on one machine: the embedded cloud (on loopback, SQLite in a temporary
//! directory, the demo organization seeded), virtual readers on a simulated radio provisioned by
//! that cloud, and a phone whose Key Button talks to both. The demo and the end-to-end tests
//! share it.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    thread::JoinHandle,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use mobile_access::{
    CloudConfig, KeyButton, KeyButtonConfig, MemoryStorage, SecureStorage, SharedOwnerKey, Timeouts,
    ble::sim::{Position, RadioProfile, SimCentral, SimRadio},
};
use mobile_access_cloud::demo::{DemoMember, DemoSeed};
use mobile_access_protocol::Timestamp;
use mobile_access_reader::{Provisioning, VirtualReader, VirtualReaderOptions};
use tokio::sync::oneshot;

/// What can go wrong setting up the world.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded cloud failed to start or stopped badly.
    #[error("embedded cloud: {0}")]
    Cloud(String),
    /// A reader could not be provisioned from what the cloud returned.
    #[error("virtual reader: {0}")]
    Reader(String),
    /// The SDK refused its configuration.
    #[error("SDK: {0}")]
    Sdk(#[from] mobile_access::Error),
    /// The demo organization lacks something the world needs.
    #[error("demo data: {0}")]
    Demo(String),
}

/// Result alias for the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The access cloud running in this process on its own thread and runtime, on real time, so a
/// simulated radio on a paused clock elsewhere never times out its database or its sockets.
pub struct EmbeddedCloud {
    base_url: String,
    seed: DemoSeed,
    data_dir: PathBuf,
    running: Option<Running>,
    _data: Option<tempfile::TempDir>,
}

struct Running {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<Result<()>>,
}

impl std::fmt::Debug for EmbeddedCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCloud").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl EmbeddedCloud {
    /// Starts the cloud on a free loopback port with SQLite in a fresh temporary directory and
    /// seeds the demo organization.
    pub fn start() -> Result<Self> {
        Self::start_with(|_| {})
    }

    /// Same, with its configuration changed by `configure` first (a benchmark's limits off).
    pub fn start_with(configure: impl FnOnce(&mut mobile_access_cloud::Config) + Send + 'static) -> Result<Self> {
        let data = tempfile::tempdir().map_err(|e| Error::Cloud(format!("temporary directory: {e}")))?;
        let (base_url, seed, running) = launch(data.path().to_owned(), None, Box::new(configure))?;
        Ok(Self { base_url, seed, data_dir: data.path().to_owned(), running: Some(running), _data: Some(data) })
    }

    /// Same, with the database in `data_dir`.
    pub fn start_in(data_dir: &Path) -> Result<Self> {
        let (base_url, seed, running) = launch(data_dir.to_owned(), None, Box::new(|_| {}))?;
        Ok(Self { base_url, seed, data_dir: data_dir.to_owned(), running: Some(running), _data: None })
    }

    /// Starts it again after [`EmbeddedCloud::stop`], on the same database (nothing is seeded
    /// again) and a new port: what phones see when the cloud comes back.
    pub fn restart(&mut self) -> Result<()> {
        self.restart_with(|_| {})
    }

    /// Same, with its configuration changed by `configure` (an operator's new flags).
    pub fn restart_with(
        &mut self,
        configure: impl FnOnce(&mut mobile_access_cloud::Config) + Send + 'static,
    ) -> Result<()> {
        self.stop()?;
        let (base_url, _, running) = launch(self.data_dir.clone(), Some(self.seed.clone()), Box::new(configure))?;
        self.base_url = base_url;
        self.running = Some(running);
        Ok(())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// What the demo seed created, tokens and reader secrets included.
    pub fn seed(&self) -> &DemoSeed {
        &self.seed
    }

    /// The demo member whose platform id is `external_id`.
    pub fn member(&self, external_id: &str) -> Result<&DemoMember> {
        self.seed
            .members
            .iter()
            .find(|m| m.external_id == external_id)
            .ok_or_else(|| Error::Demo(format!("no demo member {external_id}")))
    }

    /// Stops the cloud (in-flight requests finish) and waits for it. Taps after this have no
    /// network.
    pub fn stop(&mut self) -> Result<()> {
        let Some(running) = self.running.take() else { return Ok(()) };
        let _ = running.stop.send(());
        running.thread.join().map_err(|_| Error::Cloud("the cloud thread panicked".to_owned()))?
    }

    /// True while it serves.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

impl Drop for EmbeddedCloud {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// How a test or the harness changes the cloud's configuration before it starts.
type Configure = Box<dyn FnOnce(&mut mobile_access_cloud::Config) + Send>;

/// Runs the cloud on its own thread; seeds the demo unless `existing` is given.
fn launch(data_dir: PathBuf, existing: Option<DemoSeed>, configure: Configure) -> Result<(String, DemoSeed, Running)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("embedded-cloud".to_owned())
        .spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| Error::Cloud(format!("runtime: {e}")))?;
            runtime.block_on(async move {
                let started = async {
                    let mut config = mobile_access_cloud::Config::ephemeral(&data_dir);
                    configure(&mut config);
                    let handle = mobile_access_cloud::spawn(config).await.map_err(|e| Error::Cloud(e.to_string()))?;
                    let seed = match existing {
                        Some(seed) => seed,
                        None => mobile_access_cloud::demo::seed(handle.store(), |_| {})
                            .await
                            .map_err(|e| Error::Cloud(format!("seeding the demo: {e}")))?,
                    };
                    Ok::<_, Error>((handle, seed))
                };
                let (handle, seed) = match started.await {
                    Ok(started) => started,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error.to_string()));
                        return Err(error);
                    }
                };
                let _ = ready_tx.send(Ok((handle.base_url(), seed)));
                let _ = stop_rx.await;
                handle.shutdown().await.map_err(|e| Error::Cloud(e.to_string()))
            })
        })
        .map_err(|e| Error::Cloud(format!("thread: {e}")))?;
    let (base_url, seed) = ready_rx
        .recv()
        .map_err(|_| Error::Cloud("the cloud thread ended before it was ready".to_owned()))?
        .map_err(Error::Cloud)?;
    Ok((base_url, seed, Running { stop: stop_tx, thread }))
}

/// Now on the wall clock, as readers and credentials count time.
pub fn wall_clock() -> Timestamp {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    Timestamp(u32::try_from(secs).unwrap_or(u32::MAX))
}

/// Where the demo's doors are, in metres: the main entrance at the origin, the meeting room down
/// the corridor, the server room further on.
pub const DOOR_POSITIONS: [Position; 3] = [Position::new(0.0, 0.0), Position::new(12.0, 0.0), Position::new(30.0, 0.0)];

/// Phone held against the main entrance's reader.
pub const AT_MAIN_ENTRANCE: Position = Position::new(0.05, 0.0);
/// A watch held against the main entrance's reader: within the NFC field (a few centimetres).
pub const WATCH_ON_MAIN_ENTRANCE: Position = Position::new(0.02, 0.0);
/// A watch held against the meeting room's reader.
pub const WATCH_ON_MEETING_ROOM: Position = Position::new(12.02, 0.0);
/// Phone three metres from the main entrance: in range, not tapped.
pub const NEAR_MAIN_ENTRANCE: Position = Position::new(3.0, 0.0);
/// Phone a metre and a half from the meeting room's range reader.
pub const AT_MEETING_ROOM: Position = Position::new(10.5, 0.0);
/// Phone held against the server room's tap reader.
pub const AT_SERVER_ROOM: Position = Position::new(30.05, 0.0);

/// Moves `phone` in a straight line from `from` to `to` at `speed` m/s, a step every 100 ms of
/// the runtime's (simulated) time: a member walking.
pub async fn walk(phone: &SimCentral, from: Position, to: Position, speed: f64) {
    let steps = ((from.distance(&to) / speed) * 10.0).ceil().max(1.0) as u32;
    for step in 1..=steps {
        let f = f64::from(step) / f64::from(steps);
        phone.move_to(Position::new(from.x + (to.x - from.x) * f, from.y + (to.y - from.y) * f));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The site: a simulated radio with one virtual reader per door the cloud provisioned.
pub struct Site {
    /// The radio.
    pub radio: SimRadio,
    /// The readers, in the cloud's order (main entrance, meeting room, server room).
    pub readers: Vec<VirtualReader>,
    /// Their provisioning, in the same order.
    pub provisioning: Vec<Provisioning>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").field("readers", &self.readers.len()).finish_non_exhaustive()
    }
}

impl Site {
    /// Provisions a virtual reader for every reader of the demo seed (must run inside a tokio
    /// runtime: the readers advertise on its clock). `reader_clock_ahead` sets how far the
    /// readers' clocks run ahead of the wall clock (a drifted installation).
    pub fn new(seed: &DemoSeed, profile: RadioProfile, radio_seed: u64, reader_clock_ahead: Duration) -> Result<Self> {
        let mut site =
            Self { radio: SimRadio::new(profile, radio_seed), readers: Vec::new(), provisioning: Vec::new() };
        site.add_organization(seed, Position::new(0.0, 0.0), reader_clock_ahead)?;
        Ok(site)
    }

    /// Provisions a virtual reader for every reader of another organization's seed (another
    /// cloud's), its doors laid out as the first's but from `origin`: a building where two
    /// operators have floors. Returns the index of its first reader in [`Site::readers`].
    pub fn add_organization(
        &mut self,
        seed: &DemoSeed,
        origin: Position,
        reader_clock_ahead: Duration,
    ) -> Result<usize> {
        let first = self.readers.len();
        let time = wall_clock().plus(u32::try_from(reader_clock_ahead.as_secs()).unwrap_or(u32::MAX));
        for (index, issued) in seed.readers.iter().enumerate() {
            let json = serde_json::to_string(issued).map_err(|e| Error::Reader(e.to_string()))?;
            let parsed = Provisioning::from_json(&json).map_err(|e| Error::Reader(e.to_string()))?;
            let at = DOOR_POSITIONS.get(index).copied().unwrap_or(Position::new(50.0 + index as f64, 0.0));
            let position = Position::new(origin.x + at.x, origin.y + at.y);
            let reader = VirtualReader::spawn(&self.radio, &parsed, VirtualReaderOptions::at(position, time))
                .map_err(|e| Error::Reader(e.to_string()))?;
            self.readers.push(reader);
            self.provisioning.push(parsed);
        }
        if self.readers.len() == first {
            return Err(Error::Demo("the demo provisioned no reader".to_owned()));
        }
        Ok(first)
    }

    /// The reader at `index` (0 main entrance, 1 meeting room, 2 server room).
    pub fn reader(&self, index: usize) -> Result<&VirtualReader> {
        self.readers.get(index).ok_or_else(|| Error::Demo(format!("no reader #{index}")))
    }

    /// A phone at `position`.
    pub fn phone(&self, position: Position) -> Arc<SimCentral> {
        Arc::new(self.radio.add_central(position))
    }
}

/// A Key Button for `token` against `base_url`, on `phone`, keeping its keys in `storage`.
pub fn key_button(
    base_url: &str,
    token: &str,
    phone: Arc<SimCentral>,
    storage: Arc<dyn SecureStorage>,
    timeouts: Timeouts,
) -> Result<KeyButton> {
    key_button_with_owner(base_url, token, phone, storage, timeouts, None)
}

/// [`key_button`] with the phone's owner key, for doors that require owner verification.
pub fn key_button_with_owner(
    base_url: &str,
    token: &str,
    phone: Arc<SimCentral>,
    storage: Arc<dyn SecureStorage>,
    timeouts: Timeouts,
    owner: Option<SharedOwnerKey>,
) -> Result<KeyButton> {
    let mut cloud = CloudConfig::new(base_url);
    cloud.backoff = Duration::from_millis(50);
    let config = KeyButtonConfig { cloud, member_token: token.to_owned(), timeouts };
    Ok(KeyButton::with_owner_key(config, phone, storage, None, owner)?)
}

/// A fresh in-memory key store (a new phone).
pub fn new_phone_storage() -> Arc<dyn SecureStorage> {
    Arc::new(MemoryStorage::new())
}
