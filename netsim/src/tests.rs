//! Each impairment on a virtual clock.

use super::*;

const MS: Duration = Duration::from_millis(1);

/// Sends `count` datagrams of `len` bytes every `every` from `start`; returns their fates.
fn offer(link: &mut Link, start: Instant, count: usize, len: usize, every: Duration) -> Vec<Fate> {
    (0..count).map(|i| link.send(start + every * i as u32, len)).collect()
}

#[test]
fn loss_rate_is_close_to_the_configured_one() {
    let start = Instant::now();
    let mut link = Link::new(Impairment { loss: 5.0, ..Default::default() }, 7);
    let fates = offer(&mut link, start, 100_000, 1200, MS);
    let lost = fates.iter().filter(|f| **f == Fate::Lost).count();
    let rate = lost as f64 / fates.len() as f64 * 100.0;
    assert!((4.7..5.3).contains(&rate), "lost {rate:.2} %");
    assert_eq!(link.stats().lost, lost as u64);
    // Without delay, what is delivered arrives as it is sent.
    assert!(fates.iter().enumerate().all(|(i, f)| match f {
        Fate::Deliver(at) => *at == start + MS * i as u32,
        _ => true,
    }));
}

#[test]
fn the_same_seed_gives_the_same_fates() {
    let start = Instant::now();
    let config = Impairment { loss: 20.0, jitter: 10 * MS, reorder: true, ..Default::default() };
    let a = offer(&mut Link::new(config.clone(), 42), start, 1000, 100, MS);
    let b = offer(&mut Link::new(config.clone(), 42), start, 1000, 100, MS);
    let c = offer(&mut Link::new(config, 43), start, 1000, 100, MS);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn delay_and_jitter_stay_within_bounds() {
    let start = Instant::now();
    let config =
        Impairment { delay: 50 * MS, jitter: 10 * MS, reorder: true, ..Default::default() };
    let mut link = Link::new(config, 1);
    let fates = offer(&mut link, start, 10_000, 200, MS);
    let mut reordered = 0;
    let mut last = start;
    for (i, fate) in fates.iter().enumerate() {
        let at = fate.delivered_at().expect("no loss configured");
        let delay = at - (start + MS * i as u32);
        assert!(delay >= 40 * MS && delay <= 60 * MS, "delay {delay:?}");
        if at < last {
            reordered += 1;
        }
        last = last.max(at);
    }
    assert!(reordered > 1000, "jitter of ±10 ms on 1 ms spacing reorders ({reordered})");

    // Without reordering every datagram arrives after the one before it, and no sooner than
    // the lower bound.
    let config = Impairment { delay: 50 * MS, jitter: 10 * MS, ..Default::default() };
    let mut link = Link::new(config, 1);
    let fates = offer(&mut link, start, 10_000, 200, MS);
    let arrivals: Vec<Instant> = fates.iter().map(|f| f.delivered_at().unwrap()).collect();
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]), "in order");
    for (i, at) in arrivals.iter().enumerate() {
        let delay = *at - (start + MS * i as u32);
        assert!(delay >= 40 * MS && delay <= 60 * MS, "delay {delay:?}");
    }
}

#[test]
fn rate_cap_limits_throughput_and_drops_at_the_tail() {
    let start = Instant::now();
    // 1 Mbit/s = 125,000 B/s; offer twice that (1250-byte datagrams every 5 ms) for 10 s.
    let config = Impairment {
        rate_kbit: Some(1000),
        burst_bytes: 5000,
        queue_bytes: 25_000,
        ..Default::default()
    };
    let mut link = Link::new(config, 3);
    let fates = offer(&mut link, start, 2000, 1250, 5 * MS);
    let delivered: Vec<Instant> = fates.iter().filter_map(|f| f.delivered_at()).collect();
    let dropped = fates.iter().filter(|f| **f == Fate::QueueFull).count();
    let seconds = (*delivered.last().unwrap() - start).as_secs_f64();
    let throughput = delivered.len() as f64 * 1250.0 / seconds;
    assert!(
        (120_000.0..=131_000.0).contains(&throughput),
        "throughput {throughput:.0} B/s over {seconds:.2} s"
    );
    assert!((900..=1100).contains(&dropped), "about half dropped at the tail ({dropped})");
    // Queueing delay never exceeds what the queue holds at the capped rate (plus one datagram).
    let worst = fates
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.delivered_at().map(|at| at - (start + 5 * MS * i as u32)))
        .max()
        .unwrap();
    assert!(worst <= Duration::from_millis(210), "worst queueing delay {worst:?}");
    assert!(worst >= Duration::from_millis(150), "the queue filled ({worst:?})");
}

#[test]
fn rate_cap_under_the_limit_adds_no_delay() {
    let start = Instant::now();
    let config = Impairment { rate_kbit: Some(1000), ..Default::default() };
    let mut link = Link::new(config, 3);
    // 1000 bytes every 20 ms = 50 kB/s, well under 125 kB/s.
    let fates = offer(&mut link, start, 500, 1000, 20 * MS);
    for (i, f) in fates.iter().enumerate() {
        assert_eq!(*f, Fate::Deliver(start + 20 * MS * i as u32));
    }
}

#[test]
fn blackhole_drops_everything_then_recovers() {
    let start = Instant::now();
    let mut link = Link::new(Impairment { delay: 20 * MS, ..Default::default() }, 9);
    link.set_blackhole(true);
    let fates = offer(&mut link, start, 1000, 300, MS);
    assert!(fates.iter().all(|f| *f == Fate::Blackholed));
    link.set_blackhole(false);
    let later = start + Duration::from_secs(2);
    let fates = offer(&mut link, later, 1000, 300, MS);
    for (i, f) in fates.iter().enumerate() {
        assert_eq!(*f, Fate::Deliver(later + MS * i as u32 + 20 * MS));
    }
    assert_eq!(link.stats().blackholed, 1000);
    assert_eq!(link.stats().delivered, 1000);
}

#[test]
fn schedule_releases_items_in_arrival_order() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule.push(start + 30 * MS, "c");
    schedule.push(start + 10 * MS, "a");
    schedule.push(start + 10 * MS, "b");
    assert_eq!(schedule.next_at(), Some(start + 10 * MS));
    assert_eq!(schedule.pop_due(start + 5 * MS), None);
    assert_eq!(schedule.pop_due(start + 10 * MS), Some("a"));
    assert_eq!(schedule.pop_due(start + 10 * MS), Some("b"));
    assert_eq!(schedule.pop_due(start + 20 * MS), None);
    assert_eq!(schedule.pop_due(start + 40 * MS), Some("c"));
    assert!(schedule.is_empty());
}
