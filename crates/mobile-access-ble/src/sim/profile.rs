//! Radio profiles: the timing and limits of one kind of phone talking to a reader. Every figure
//! carries its source or is marked as an assumption.

use std::time::Duration;

/// The parameters the simulated radio runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct RadioProfile {
    /// Short name, printed by the benchmark.
    pub name: &'static str,
    /// How often the reader advertises (before the spec's random 0–10 ms `advDelay`).
    pub advertising_interval: Duration,
    /// Upper bound of the random `advDelay` the Core spec adds to every advertising event.
    pub advertising_delay_max: Duration,
    /// The phone's scan window and scan interval: an advertisement is received only if it falls
    /// in a window. Equal values mean continuous scanning.
    pub scan_window: Duration,
    /// See `scan_window`.
    pub scan_interval: Duration,
    /// The connection interval the phone chooses.
    pub connection_interval: Duration,
    /// The ATT MTU the phone's OS requests (the reader accepts up to 517).
    pub mtu: u16,
    /// ATT packets one side can send in one connection event.
    pub packets_per_event: u32,
    /// A link on which nothing gets through for this long is dropped.
    pub supervision_timeout: Duration,
    /// ATT request/response transactions of a first, uncached GATT discovery of a reader
    /// (services, characteristics, the CCCD descriptor).
    pub discovery_transactions: u32,
    /// The phone gives up connecting after this long without catching an advertisement.
    pub connect_timeout: Duration,
    /// Path-loss exponent of the room.
    pub path_loss_exponent: f64,
    /// Standard deviation of RSSI noise, dB.
    pub rssi_noise_db: f64,
    /// Weakest signal a receiver decodes, dBm.
    pub sensitivity_dbm: f64,
    /// RSSI at 1 m of the phone's own transmissions, as the reader measures them, dBm.
    pub phone_power_at_1m: f64,
    /// Probability that any one packet (advertisement, connection request, ATT PDU) is lost.
    pub packet_loss: f64,
    /// Whether the controllers report the RSSI they measure. Off models BlueZ's emulated
    /// controllers (btvirt, what CI runs) and chipsets that report 127, the HCI's "not
    /// available": every scan event, every link's RSSI and the RSSI a peripheral hears a write
    /// at is [`Rssi::UNKNOWN`](crate::Rssi::UNKNOWN). Signal strength still decides what is
    /// received at all.
    pub reports_rssi: bool,
}

/// The exchanges whose floor docs/performance.md derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FloorExchange {
    /// One round trip, GATT layout cached.
    Fast,
    /// Two round trips, GATT layout cached.
    Full,
    /// Two round trips on the phone's very first connection to the reader (GATT discovery).
    FullUncached,
}

impl RadioProfile {
    /// The floor of docs/performance.md: from the start of a scan to the reader's answer being
    /// delivered, with no loss and nothing wasted — advertising wait, connecting, the first
    /// connection event, then one connection interval per event the exchange needs (MTU
    /// exchange, discovery if uncached, the pipelined subscription and request, the answers).
    pub fn floor(&self, exchange: FloorExchange) -> Duration {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let events = match exchange {
            FloorExchange::Fast => 3,
            FloorExchange::Full => 5,
            FloorExchange::FullUncached => 5 + 2 * self.discovery_transactions,
        };
        let (t, d, ci) = (ms(self.advertising_interval), ms(self.advertising_delay_max), ms(self.connection_interval));
        let mean_gap = t + d / 2.0;
        let detect = (d * d / 12.0 + mean_gap * mean_gap) / (2.0 * mean_gap);
        let first_event = 1.25 + (ci - 1.25) / 2.0;
        Duration::from_secs_f64((detect + mean_gap + first_event + f64::from(events) * ci) / 1e3)
    }

    /// An iPhone in the foreground.
    ///
    /// - Connection interval 30 ms: iOS accepts 15 ms only as a peripheral request and "some
    ///   devices will scale [15/15] to 30 ms"; 30 ms is the common initial interval (Apple
    ///   Accessory Design Guidelines, "Connection Parameters", as quoted by Silicon Labs
    ///   "Selecting Suitable Connection Parameters for Apple Devices").
    /// - MTU 185: what iOS 10+ negotiates (chrisc11/ble-guides, ios-mtu.md).
    /// - 7 packets per event observed on iOS at MTU 185 (same source).
    /// - Supervision timeout 2 s: the lower bound of Apple's accepted 2–6 s range (ADG).
    /// - Scanning: continuous in the foreground (assumption: Apple does not document its scan
    ///   duty cycle; foreground scans with a service filter behave as near-continuous).
    pub fn ios() -> Self {
        Self {
            name: "ios",
            connection_interval: Duration::from_millis(30),
            mtu: 185,
            packets_per_event: 7,
            supervision_timeout: Duration::from_secs(2),
            ..Self::common()
        }
    }

    /// An Android phone in the foreground scanning in `SCAN_MODE_LOW_LATENCY`.
    ///
    /// - Connection interval 15 ms: `CONNECTION_PRIORITY_HIGH` is 11.25–15 ms (Android
    ///   `BluetoothGatt` documentation); the upper end is used.
    /// - MTU 517: Android 14+ requests 517 on the first MTU request (Android `requestMtu`
    ///   documentation); btleplug requests it automatically after connecting.
    /// - Scanning: LOW_LATENCY is window 5000 ms / interval 5000 ms, i.e. continuous (AOSP
    ///   `ScanManager`). btleplug uses the default LOW_POWER mode (500/5000 ms): see
    ///   [`RadioProfile::android_low_power`].
    /// - 6 packets per event, supervision timeout 5 s (assumptions: common controller values).
    pub fn android() -> Self {
        Self {
            name: "android",
            connection_interval: Duration::from_millis(15),
            mtu: 517,
            packets_per_event: 6,
            supervision_timeout: Duration::from_secs(5),
            ..Self::common()
        }
    }

    /// [`RadioProfile::android`] scanning in `SCAN_MODE_LOW_POWER` (window 500 ms every
    /// 5000 ms, AOSP `ScanManager`), the mode btleplug's Android backend uses: detection can
    /// take up to 4.5 s longer.
    pub fn android_low_power() -> Self {
        Self {
            name: "android-low-power",
            scan_window: Duration::from_millis(500),
            scan_interval: Duration::from_millis(5000),
            ..Self::android()
        }
    }

    /// What both phone profiles share.
    ///
    /// - Reader advertising every 20 ms: Apple's recommended interval for the first 30 s
    ///   (Apple Technical Q&A QA1931), which a door reader can afford on mains power.
    /// - advDelay 0–10 ms: Bluetooth Core specification, Vol 6 Part B §4.4.2.2.1.
    /// - 6 discovery transactions (primary services, characteristics, descriptors, each ended
    ///   by an "attribute not found" response) for the reader's small GATT database:
    ///   consistent with the 5–7 transactions of the project's latency research.
    /// - Path-loss exponent 2.0 (free space: phone held in front of the reader), RSSI noise
    ///   σ = 2 dB, receiver sensitivity −95 dBm, phone power −59 dBm at 1 m: assumptions of a
    ///   line-of-sight door, not measurements.
    fn common() -> Self {
        Self {
            name: "common",
            advertising_interval: Duration::from_millis(20),
            advertising_delay_max: Duration::from_millis(10),
            scan_window: Duration::from_millis(5000),
            scan_interval: Duration::from_millis(5000),
            connection_interval: Duration::from_millis(30),
            mtu: 185,
            packets_per_event: 6,
            supervision_timeout: Duration::from_secs(2),
            discovery_transactions: 6,
            connect_timeout: Duration::from_secs(5),
            path_loss_exponent: 2.0,
            rssi_noise_db: 2.0,
            sensitivity_dbm: -95.0,
            phone_power_at_1m: -59.0,
            packet_loss: 0.0,
            reports_rssi: true,
        }
    }

    /// The profiles the benchmark reports.
    pub fn all() -> Vec<Self> {
        vec![Self::ios(), Self::android()]
    }

    /// This profile with a packet-loss probability.
    pub fn with_packet_loss(mut self, probability: f64) -> Self {
        self.packet_loss = probability.clamp(0.0, 1.0);
        self
    }

    /// This profile on controllers that report no RSSI (see [`RadioProfile::reports_rssi`]).
    pub fn without_rssi(mut self) -> Self {
        self.reports_rssi = false;
        self
    }
}
