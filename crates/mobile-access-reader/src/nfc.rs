//! Wallet passes at the reader: the NFC tap.
//!
//! A wallet pass (Apple Wallet on an iPhone or Apple Watch) is a credential like a mobile key,
//! bound to a key in the device's secure element, and it runs the very same exchange bytes. What
//! differs is the carrier and the policy: the wallet presents a pass only by an NFC tap, with no
//! app running, so the reader models that tap as its own entry point, [`Reader::nfc_tap`], which
//! works only at NFC distance (a few centimetres, whatever the reader's BLE mode: a pass never
//! unlocks hands-free) and only on a reader that takes passes (a Reader Pro 2.1 with tamper
//! protection on). Anything else is refused, logged, and signalled red like any refusal.

use std::time::Instant;

use mobile_access_protocol::{ReaderId, Reason, reader::Connection};

use crate::Reader;

/// How close an NFC device must be to the reader's antenna, in metres.
pub const NFC_RANGE_M: f64 = 0.04;
/// The only reader model that takes wallet passes (and only with tamper protection on).
pub const WALLET_READER_MODEL: &str = "Reader Pro 2.1";
/// Most request/answer rounds one tap may take (a full exchange takes two).
const MAX_ROUNDS: usize = 4;

/// What sits in the reader's NFC field: a wallet pass on a phone or watch, answering the reader
/// with the protocol's bytes. The reader drives the exchange (NFC is half-duplex and the reader
/// powers the field).
pub trait PassPresenter {
    /// The pass's first request once the reader `reader` selected it: a full exchange's hello.
    /// `None` when the wallet holds the pass but it carries no credential at all (a member
    /// without permissions): the reader then refuses it as opening no door.
    fn select(&mut self, reader: ReaderId) -> Option<Vec<u8>>;
    /// The next request after the reader's `answer`; `None` when the pass has nothing more to
    /// say (the exchange ended, or it refused to go on with a reader it could not verify).
    fn next(&mut self, answer: &[u8]) -> Option<Vec<u8>>;
}

/// What one tap came to, as the reader decided and logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapResult {
    /// Granted, or why not (also in the audit log and on the light).
    pub reason: Reason,
}

impl TapResult {
    /// True if the door opened.
    pub fn granted(&self) -> bool {
        self.reason.is_granted()
    }
}

impl Reader {
    /// True if this reader takes wallet passes: a Reader Pro 2.1 with tamper protection on.
    pub fn accepts_wallet_passes(&self) -> bool {
        self.model() == WALLET_READER_MODEL && self.tamper_protection()
    }

    /// A wallet pass tapped at `distance_m` from the reader: runs the exchange with `pass` over
    /// NFC and concludes it (relay, light, sound, audit). Out of NFC range nothing reaches the
    /// reader at all; in range, a reader that does not take passes refuses with
    /// [`Reason::PassNotAccepted`] before any exchange.
    pub fn nfc_tap(&mut self, pass: &mut dyn PassPresenter, distance_m: f64, now: Instant) -> Option<TapResult> {
        if distance_m.is_nan() || distance_m > NFC_RANGE_M {
            tracing::debug!(reader = %self.id(), distance_m, "NFC device out of the field");
            return None;
        }
        // NFC measures no Bluetooth signal: the audit log says so rather than inventing one.
        let rssi = None;
        let pending = if !self.accepts_wallet_passes() {
            tracing::info!(reader = %self.id(), model = self.model(), "wallet pass refused: reader does not take passes");
            self.refuse_nfc(Reason::PassNotAccepted, rssi)
        } else {
            self.run_nfc(pass, rssi, now)
        };
        let reason = self.conclude_refined(pending, now);
        Some(TapResult { reason })
    }

    fn run_nfc(&mut self, pass: &mut dyn PassPresenter, rssi: Option<i16>, now: Instant) -> crate::PendingDecision {
        let Some(mut request) = pass.select(self.id()) else {
            return self.refuse_nfc(Reason::WrongLock, rssi);
        };
        let mut connection = Connection::default();
        for _ in 0..MAX_ROUNDS {
            let answer = self.handle_request(&mut connection, &request, rssi, now);
            if let Some(pending) = answer.pending {
                let _ = pass.next(&answer.bytes);
                return pending;
            }
            match pass.next(&answer.bytes) {
                Some(next) => request = next,
                // The pass walked away from a reader it could not verify.
                None => return self.refuse_nfc(Reason::UnexpectedMessage, rssi),
            }
        }
        self.refuse_nfc(Reason::UnexpectedMessage, rssi)
    }
}
