//! Property tests: round trips, parsers that never panic, time order = id order.

use core_backend_idgen::{ParseErrorKind, SnowflakeId, SnowflakeLayout, Ulid, Uuid};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn uuid_round_trips(bits in any::<u128>()) {
        let id = Uuid::from_u128(bits);
        let text = id.to_string();
        prop_assert_eq!(text.parse::<Uuid>(), Ok(id));
        prop_assert_eq!(text.to_uppercase().parse::<Uuid>(), Ok(id));
        prop_assert_eq!(format!("{{{text}}}").parse::<Uuid>(), Ok(id));
        prop_assert_eq!(format!("urn:uuid:{text}").parse::<Uuid>(), Ok(id));
        prop_assert_eq!(text.replace('-', "").parse::<Uuid>(), Ok(id));
        // the uuid crate reads our text and we read theirs
        prop_assert_eq!(text.parse::<uuid::Uuid>().map(|u| u.as_u128()).ok(), Some(bits));
        prop_assert_eq!(uuid::Uuid::from_u128(bits).to_string(), text);
    }

    #[test]
    fn ulid_round_trips(bits in any::<u128>()) {
        let id = Ulid::from_u128(bits);
        let text = id.to_string();
        prop_assert_eq!(text.len(), 26);
        prop_assert_eq!(text.parse::<Ulid>(), Ok(id));
        prop_assert_eq!(text.to_lowercase().parse::<Ulid>(), Ok(id));
        prop_assert_eq!(ulid::Ulid(bits).to_string(), text);
    }

    #[test]
    fn snowflake_round_trips(value in any::<u64>()) {
        let id = SnowflakeId::from_u64(value);
        prop_assert_eq!(id.to_string().parse::<SnowflakeId>(), Ok(id));
        let json = serde_json::to_string(&id).unwrap_or_default();
        prop_assert_eq!(serde_json::from_str::<SnowflakeId>(&json).ok(), Some(id));
    }

    #[test]
    fn snowflake_layout_fields_round_trip(
        ts in 0u64..(1 << 41), worker in 0u64..1024, seq in 0u64..4096,
    ) {
        let layout = SnowflakeLayout::default();
        let id = SnowflakeId::from_u64((ts << 22) | (worker << 12) | seq);
        let parts = id.parts(&layout);
        prop_assert_eq!(parts.timestamp_ms, ts + layout.epoch_ms);
        prop_assert_eq!(parts.worker_id, worker);
        prop_assert_eq!(parts.sequence, seq);
    }

    #[test]
    fn parsers_never_panic(input in any::<String>()) {
        let _ = input.parse::<Uuid>();
        let _ = input.parse::<Ulid>();
        let _ = input.parse::<SnowflakeId>();
        let _ = serde_json::from_str::<SnowflakeId>(&input);
    }

    #[test]
    fn parsers_never_panic_near_valid(input in "[0-9a-zA-Z{}:\\-é ]{0,50}") {
        for result in [
            input.parse::<Uuid>().map(|_| ()),
            input.parse::<Ulid>().map(|_| ()),
            input.parse::<SnowflakeId>().map(|_| ()),
        ] {
            if let Err(e) = result {
                // positions point at a real character of the input
                if let ParseErrorKind::InvalidCharacter { character, index } = e.kind() {
                    prop_assert_eq!(input[index..].chars().next(), Some(character));
                }
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn ulid_parser_agrees_with_the_ulid_crate(input in "[0-9a-zA-Z]{26}") {
        let ours = input.parse::<Ulid>();
        let theirs = input.parse::<ulid::Ulid>().ok().map(|u| u.0);
        if theirs.is_none() {
            prop_assert!(ours.is_err());
        } else if input.as_bytes()[0] > b'7' {
            // more than 128 bits: we reject it (the ulid crate 3.0 silently drops the top bits)
            prop_assert_eq!(ours.map(|_| ()).map_err(|e| e.kind()), Err(ParseErrorKind::Overflow));
        } else {
            prop_assert_eq!(ours.ok().map(|u| u.as_u128()), theirs);
        }
    }

    #[test]
    fn uuid_parser_agrees_with_the_uuid_crate(input in "[0-9a-fA-FgG]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}") {
        let ours = input.parse::<Uuid>().ok().map(|u| u.as_u128());
        let theirs = input.parse::<uuid::Uuid>().ok().map(|u| u.as_u128());
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn ulid_order_is_time_order(a in 0u64..(1 << 48), b in 0u64..(1 << 48), ra in any::<u128>(), rb in any::<u128>()) {
        prop_assume!(a != b);
        let (x, y) = (Ulid::from_parts(a, ra), Ulid::from_parts(b, rb));
        prop_assert_eq!(a < b, x < y);
        // the text sorts the same way
        prop_assert_eq!(a < b, x.to_string() < y.to_string());
        prop_assert_eq!(x.timestamp_millis(), a);
    }

    #[test]
    fn uuid_v7_order_is_time_order(a in 0u64..(1 << 48), b in 0u64..(1 << 48), ra in any::<u128>(), rb in any::<u128>()) {
        prop_assume!(a != b);
        let ids: Vec<Uuid> = [(a, ra), (b, rb)]
            .iter()
            .map(|&(ms, r)| {
                // build through the public surface: a v7 layout from its parts
                let v = (u128::from(ms) << 80) | (0x7 << 76) | ((r >> 62) & 0xFFF) << 64 | (0b10 << 62) | (r & ((1 << 62) - 1));
                Uuid::from_u128(v)
            })
            .collect();
        prop_assert_eq!(ids[0].version(), 7);
        prop_assert_eq!(ids[0].timestamp_millis(), Some(a));
        prop_assert_eq!(a < b, ids[0] < ids[1]);
        prop_assert_eq!(a < b, ids[0].to_string() < ids[1].to_string());
    }
}

#[test]
fn generated_ids_order_follows_their_timestamps() {
    let mut v7 = Vec::new();
    let mut ulids = Vec::new();
    for _ in 0..3 {
        for _ in 0..1_000 {
            v7.push(Uuid::now_v7());
            ulids.push(Ulid::new());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(
        v7.windows(2)
            .all(|w| w[0] < w[1] && w[0].timestamp_millis() <= w[1].timestamp_millis())
    );
    assert!(
        ulids
            .windows(2)
            .all(|w| w[0] < w[1] && w[0].timestamp_millis() <= w[1].timestamp_millis())
    );
    assert!(
        v7.last().and_then(Uuid::timestamp_millis) > v7.first().and_then(Uuid::timestamp_millis)
    );
}
