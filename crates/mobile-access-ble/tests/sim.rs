//! The simulated radio's timing and limits, as the SDK would notice them.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::{sync::Arc, time::Duration};

use mobile_access_ble::{
    AdapterState, Central, DisconnectCause, Error, PeripheralId, Rssi, ScanEvent, ScanFilter, WriteType,
    channel::MessageChannel,
    sim::{
        Advertiser, PeripheralConfig, PeripheralEvent, PeripheralEvents, Position, RadioProfile, SimConnection,
        SimRadio,
    },
};
use mobile_access_protocol::{REQUEST_CHARACTERISTIC_UUID, RESPONSE_CHARACTERISTIC_UUID, SERVICE_UUID, framing};
use proptest::prelude::*;
use tokio::time::Instant;

struct Fixed;

impl Advertiser for Fixed {
    fn advertising_data(&self) -> Vec<u8> {
        vec![2, 1, 6]
    }
}

fn config(id: &str, position: Position) -> PeripheralConfig {
    PeripheralConfig {
        id: PeripheralId::new(id),
        position,
        power_at_1m: -59.0,
        services: vec![SERVICE_UUID],
        characteristics: vec![REQUEST_CHARACTERISTIC_UUID, RESPONSE_CHARACTERISTIC_UUID],
    }
}

/// A peripheral that answers every whole framed message with the same bytes.
fn echo(radio: &SimRadio, id: &str) {
    let events = radio.add_peripheral(config(id, Position::default()), Arc::new(Fixed));
    tokio::spawn(serve_echo(events));
}

async fn serve_echo(mut events: PeripheralEvents) {
    let mut links: Vec<(SimConnection, framing::Reassembler)> = Vec::new();
    while let Some(event) = events.next().await {
        match event {
            PeripheralEvent::Connected(c) => links.push((c, framing::Reassembler::new())),
            PeripheralEvent::Write { connection, value, .. } => {
                let Some((c, r)) = links.iter_mut().find(|(c, _)| c.id() == connection) else { continue };
                if let Ok(Some(message)) = r.push(&value) {
                    for fragment in framing::fragment(&message, c.mtu()).unwrap() {
                        let _ = c.notify(RESPONSE_CHARACTERISTIC_UUID, fragment);
                    }
                }
            }
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn scans_report_advertisements_at_the_advertising_interval_weaker_with_distance() {
    let radio = SimRadio::new(RadioProfile::android(), 1);
    radio.add_peripheral(config("near", Position::new(0.1, 0.0)), Arc::new(Fixed));
    radio.add_peripheral(config("far", Position::new(8.0, 0.0)), Arc::new(Fixed));
    let phone = radio.add_central(Position::default());
    let mut scan = phone.scan(ScanFilter::readers()).await.unwrap();
    let start = Instant::now();
    let (mut near, mut far) = (Vec::new(), Vec::new());
    while start.elapsed() < Duration::from_secs(1) {
        let event = scan.next().await.unwrap();
        let rssi = event.rssi.dbm().unwrap();
        if event.peripheral.as_str() == "near" { near.push(rssi) } else { far.push(rssi) }
    }
    // 20 ms + 0–10 ms advDelay: one advertisement every 25 ms on average.
    assert!((36..=44).contains(&near.len()), "{}", near.len());
    let mean = |v: &[i16]| v.iter().map(|&r| f64::from(r)).sum::<f64>() / v.len() as f64;
    assert!((mean(&near) - -39.0).abs() < 1.5, "{}", mean(&near));
    assert!((mean(&far) - -77.1).abs() < 1.5, "{}", mean(&far));
    let other = ScanFilter { services: vec![0x1234] };
    let mut filtered = phone.scan(other).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(200), filtered.next()).await.is_err());
}

/// Every advertisement a phone at the origin receives in one second from "near" (10 cm) and
/// "far" (8 m).
async fn scan_for_a_second(profile: RadioProfile, seed: u64, hide_far: bool) -> Vec<ScanEvent> {
    let radio = SimRadio::new(profile, seed);
    radio.add_peripheral(config("near", Position::new(0.1, 0.0)), Arc::new(Fixed));
    radio.add_peripheral(config("far", Position::new(8.0, 0.0)), Arc::new(Fixed));
    let phone = radio.add_central(Position::default());
    if hide_far {
        phone.report_unknown_rssi_for(&PeripheralId::new("far"));
    }
    let mut scan = phone.scan(ScanFilter::readers()).await.unwrap();
    let start = Instant::now();
    let mut events = Vec::new();
    while start.elapsed() < Duration::from_secs(1) {
        events.push(scan.next().await.unwrap());
    }
    events
}

/// The RSSI a peripheral hears one write from a phone at 5 cm at, and the phone's view of the
/// link's RSSI.
async fn rssi_of_a_write(radio: &SimRadio, hide_reader: bool) -> (Rssi, Rssi) {
    let mut events = radio.add_peripheral(config("reader", Position::default()), Arc::new(Fixed));
    let phone = radio.add_central(Position::new(0.05, 0.0));
    if hide_reader {
        phone.report_unknown_rssi_for(&PeripheralId::new("reader"));
    }
    let link = phone.connect(&PeripheralId::new("reader")).await.unwrap();
    link.write(REQUEST_CHARACTERISTIC_UUID, &[1], WriteType::WithoutResponse).await.unwrap();
    loop {
        if let PeripheralEvent::Write { rssi, .. } = events.next().await.unwrap() {
            return (rssi, link.rssi().await.unwrap());
        }
    }
}

/// BlueZ's emulated controllers (what CI runs) and chipsets reporting 127 measure no RSSI: the
/// air is the same (what is received, when), only every RSSI is unknown, both ways.
#[tokio::test(start_paused = true)]
async fn controllers_that_report_no_rssi_deliver_the_same_air_with_every_rssi_unknown() {
    let measured = scan_for_a_second(RadioProfile::android(), 1, false).await;
    let unmeasured = scan_for_a_second(RadioProfile::android().without_rssi(), 1, false).await;
    assert!(measured.iter().all(|e| e.rssi.is_known()));
    assert!(unmeasured.iter().all(|e| e.rssi == Rssi::UNKNOWN), "{unmeasured:?}");
    let air = |events: &[ScanEvent]| {
        events.iter().map(|e| (e.peripheral.clone(), e.seen_at - events[0].seen_at)).collect::<Vec<_>>()
    };
    assert_eq!(air(&measured), air(&unmeasured));
    assert!(unmeasured.iter().any(|e| e.peripheral.as_str() == "far"), "the far peripheral is still heard");

    let (at_peripheral, at_phone) = rssi_of_a_write(&SimRadio::new(RadioProfile::ios().without_rssi(), 2), false).await;
    assert_eq!((at_peripheral, at_phone), (Rssi::UNKNOWN, Rssi::UNKNOWN));
    let (at_peripheral, at_phone) = rssi_of_a_write(&SimRadio::new(RadioProfile::ios(), 2), false).await;
    assert!(at_peripheral.dbm().unwrap() > -40 && at_phone.dbm().unwrap() > -40, "{at_peripheral} {at_phone}");
}

/// A phone's stack with no RSSI for one advertiser still measures the others, and that
/// advertiser still measures the phone.
#[tokio::test(start_paused = true)]
async fn a_phone_can_report_one_peripheral_without_rssi_and_measure_the_others() {
    let events = scan_for_a_second(RadioProfile::ios(), 3, true).await;
    let (far, near): (Vec<_>, Vec<_>) = events.iter().partition(|e| e.peripheral.as_str() == "far");
    assert!(!far.is_empty() && far.iter().all(|e| e.rssi == Rssi::UNKNOWN));
    assert!(!near.is_empty() && near.iter().all(|e| e.rssi.is_known()));

    let (at_peripheral, at_phone) = rssi_of_a_write(&SimRadio::new(RadioProfile::ios(), 4), true).await;
    assert!(at_peripheral.is_known(), "the peripheral's controller measures the phone");
    assert_eq!(at_phone, Rssi::UNKNOWN);
}

#[tokio::test(start_paused = true)]
async fn the_os_gatt_cache_saves_the_discovery_round_trips_on_later_connections() {
    let profile = RadioProfile::ios();
    let ci = profile.connection_interval;
    let radio = SimRadio::new(profile.clone(), 2);
    echo(&radio, "reader");
    let phone = radio.add_central(Position::new(0.05, 0.0));
    let id = PeripheralId::new("reader");
    let mut connect_time = Vec::new();
    for _ in 0..2 {
        let mut adverts = phone.scan(ScanFilter::readers()).await.unwrap();
        adverts.next().await.unwrap();
        let start = Instant::now();
        let link = phone.connect(&id).await.unwrap();
        connect_time.push(start.elapsed());
        assert_eq!(link.mtu(), 185);
        link.disconnect().await.unwrap();
    }
    let saved = connect_time[0] - connect_time[1];
    let discovery = ci * 2 * profile.discovery_transactions;
    // The connection setup itself varies by at most one advertising gap and one interval.
    assert!(saved.abs_diff(discovery) <= Duration::from_millis(30) + ci, "{connect_time:?}");
}

#[tokio::test(start_paused = true)]
async fn a_request_costs_connection_events_and_a_write_with_response_waits_for_its_ack() {
    let profile = RadioProfile::android();
    let ci = profile.connection_interval;
    let radio = SimRadio::new(profile, 3);
    echo(&radio, "reader");
    let phone = radio.add_central(Position::new(0.05, 0.0));
    let link = phone.connect(&PeripheralId::new("reader")).await.unwrap();
    let start = Instant::now();
    let mut channel = MessageChannel::open(link, &[5; 300]).await.unwrap();
    assert_eq!(channel.receive().await.unwrap(), vec![5; 300]);
    // Subscription and request in the next event, the echo in the one after.
    assert!(start.elapsed() <= 2 * ci, "{:?}", start.elapsed());
    let start = Instant::now();
    channel.link().write(REQUEST_CHARACTERISTIC_UUID, &[1], WriteType::WithResponse).await.unwrap();
    assert!(start.elapsed() > ci && start.elapsed() <= 2 * ci, "{:?}", start.elapsed());
    let too_big = channel.link().write(REQUEST_CHARACTERISTIC_UUID, &[0; 515], WriteType::WithoutResponse).await;
    assert_eq!(too_big, Err(Error::PayloadTooLarge { len: 515, max: 514 }));
    let unknown = channel.link().write(7, &[0], WriteType::WithoutResponse).await;
    assert_eq!(unknown, Err(Error::CharacteristicNotFound(7)));
}

#[tokio::test(start_paused = true)]
async fn walking_out_of_range_ends_the_link_after_the_supervision_timeout() {
    let profile = RadioProfile::ios();
    let radio = SimRadio::new(profile.clone(), 4);
    echo(&radio, "reader");
    let phone = radio.add_central(Position::new(0.05, 0.0));
    let link = phone.connect(&PeripheralId::new("reader")).await.unwrap();
    phone.move_to(Position::new(500.0, 0.0));
    let start = Instant::now();
    let result = link.write(REQUEST_CHARACTERISTIC_UUID, &[1], WriteType::WithResponse).await;
    assert_eq!(
        result,
        Err(Error::Disconnected {
            peripheral: PeripheralId::new("reader"),
            cause: DisconnectCause::SupervisionTimeout
        })
    );
    let waited = start.elapsed();
    assert!(
        waited >= profile.supervision_timeout
            && waited <= profile.supervision_timeout + 2 * profile.connection_interval
    );
}

#[tokio::test(start_paused = true)]
async fn adapter_conditions_are_distinct_errors() {
    let radio = SimRadio::new(RadioProfile::android(), 5);
    let phone = radio.add_central(Position::default());
    for (state, error) in [
        (AdapterState::PoweredOff, Error::AdapterOff),
        (AdapterState::Unauthorized, Error::Unauthorized),
        (AdapterState::Unavailable, Error::Unavailable("no Bluetooth adapter".to_owned())),
    ] {
        phone.set_adapter_state(state);
        assert_eq!(phone.adapter_state().await, state);
        assert_eq!(phone.scan(ScanFilter::readers()).await.err(), Some(error.clone()));
        assert_eq!(phone.connect(&PeripheralId::new("x")).await.err(), Some(error));
    }
    phone.set_adapter_state(AdapterState::PoweredOn);
    assert_eq!(phone.connect(&PeripheralId::new("x")).await.err(), Some(Error::NotFound(PeripheralId::new("x"))));
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_latencies() {
    async fn run(seed: u64) -> Vec<Duration> {
        let radio = SimRadio::new(RadioProfile::ios().with_packet_loss(0.2), seed);
        echo(&radio, "reader");
        let phone = radio.add_central(Position::new(0.05, 0.0));
        let start = Instant::now();
        let mut out = Vec::new();
        for _ in 0..3 {
            let link = phone.connect(&PeripheralId::new("reader")).await.unwrap();
            let mut channel = MessageChannel::open(link, &[1; 200]).await.unwrap();
            channel.receive().await.unwrap();
            out.push(start.elapsed());
        }
        out
    }
    assert_eq!(run(9).await, run(9).await);
    assert_ne!(run(9).await, run(10).await);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the message size, MTU and loss, a message arrives whole or the link reports
    /// that it ended; never a damaged message.
    #[test]
    fn messages_arrive_whole_under_loss(len in 0usize..=512, android in any::<bool>(), loss in 0.0f64..0.3, seed in any::<u64>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let profile = if android { RadioProfile::android() } else { RadioProfile::ios() };
        let result = runtime.block_on(async move {
            let radio = SimRadio::new(profile.with_packet_loss(loss), seed);
            echo(&radio, "reader");
            let phone = radio.add_central(Position::new(0.05, 0.0));
            let message: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let link = match phone.connect(&PeripheralId::new("reader")).await {
                Ok(link) => link,
                Err(e) => return Err(e),
            };
            let mut channel = MessageChannel::open(link, &message).await?;
            let echoed = channel.receive().await?;
            Ok((echoed, message))
        });
        match result {
            Ok((echoed, message)) => prop_assert_eq!(echoed, message),
            Err(e) => prop_assert!(matches!(e, Error::Disconnected { .. } | Error::Timeout(_)), "{e:?}"),
        }
    }
}
