//! Key placement. Redis Cluster maps a key to slot `CRC16(key) mod 16384`, hashing only the
//! `{hash tag}` when there is one (https://redis.io/docs/reference/cluster-spec/#hash-tags).
//! We choose, for every slot, a short tag that hashes to it; a writer's `n`-th key carries the
//! tag of slot `n × STRIDE mod 16384`. STRIDE is odd, hence coprime to 16384, so every 16384
//! consecutive writes touch every slot exactly once, and consecutive writes jump across the
//! slot space, so every shard receives its share of the write rate at every moment — not only
//! the shard that owns the current stretch of slots.

use std::sync::OnceLock;

/// Redis Cluster's hash slots (the one constant, from the model crate).
pub use redis_stretch_topology::SLOT_COUNT as SLOTS;

/// Odd and near 16384 × 0.375, so consecutive keys land in different shards of any layout
/// with a handful of contiguous ranges.
const STRIDE: u32 = 6151;

/// CRC16/XMODEM, the variant Redis Cluster uses (poly 0x1021, init 0).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of a key, hash tags included.
pub fn slot_of(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&c| c == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&c| c == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOTS
}

/// For each slot, a tag (lowercase hex) that hashes to it.
pub fn tag_for_slot(slot: u16) -> &'static str {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = vec![String::new(); usize::from(SLOTS)];
        let mut missing = usize::from(SLOTS);
        let mut n: u64 = 0;
        // About 16384 × ln(16384) ≈ 160k candidates fill the table (coupon collector).
        while missing > 0 {
            let tag = format!("{n:x}");
            let s = usize::from(slot_of(tag.as_bytes()));
            if table[s].is_empty() {
                table[s] = tag;
                missing -= 1;
            }
            n += 1;
        }
        table
    });
    table
        .get(usize::from(slot % SLOTS))
        .map(String::as_str)
        .unwrap_or_default()
}

/// The slot a writer's `seq`-th key goes to.
pub fn slot_for_seq(seq: u64) -> u16 {
    let s = (seq % u64::from(SLOTS)) * u64::from(STRIDE) % u64::from(SLOTS);
    u16::try_from(s).unwrap_or(0)
}

/// `rsd:{tag}:<run>:<writer>:<seq>` — unique per run, writer and write, so each key is written
/// by exactly one logical write and readback can tell a lost write from an old one.
pub fn write_key(run: &str, writer: &str, seq: u64) -> String {
    format!(
        "rsd:{{{}}}:{run}:{writer}:{seq}",
        tag_for_slot(slot_for_seq(seq))
    )
}

/// The probe key of a shard: it lives in `slot`, which the shard owns.
pub fn probe_key(run: &str, slot: u16) -> String {
    format!("rsd:{{{}}}:{run}:probe", tag_for_slot(slot))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn crc16_matches_the_redis_cluster_spec() {
        // The check value the spec gives for its CRC16 implementation.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        // `CLUSTER KEYSLOT foo` = 12182, `CLUSTER KEYSLOT somekey` = 11058.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"somekey"), 11058);
    }

    #[test]
    fn hash_tags_follow_the_spec() {
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        // An empty first tag means the whole key is hashed.
        assert_eq!(slot_of(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
        assert_eq!(slot_of(b"foo{bar}{zap}"), slot_of(b"bar"));
    }

    #[test]
    fn every_slot_has_a_tag_that_hashes_to_it() {
        for s in 0..SLOTS {
            assert_eq!(slot_of(tag_for_slot(s).as_bytes()), s);
        }
    }

    #[test]
    fn writes_cover_every_slot_once_per_cycle() {
        let mut seen = vec![false; usize::from(SLOTS)];
        for seq in 0..u64::from(SLOTS) {
            let key = write_key("r", "p", seq);
            let s = slot_of(key.as_bytes());
            assert_eq!(s, slot_for_seq(seq));
            assert!(!seen[usize::from(s)], "slot {s} hit twice");
            seen[usize::from(s)] = true;
        }
        assert!(seen.iter().all(|&b| b));
    }
}
