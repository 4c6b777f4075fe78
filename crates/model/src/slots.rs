//! Hash slots: Redis Cluster maps every key to one of 16384 slots; a shard serves ranges of them.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const SLOT_COUNT: u16 = 16384;

/// An inclusive range of hash slots, as `CLUSTER ADDSLOTSRANGE` and `CLUSTER NODES` write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

impl SlotRange {
    pub fn len(&self) -> usize {
        usize::from(self.end) - usize::from(self.start) + 1
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn contains(&self, slot: u16) -> bool {
        (self.start..=self.end).contains(&slot)
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Split all slots into `shards` contiguous ranges whose sizes differ by at most one.
/// Returns an empty list for 0 shards or more shards than slots.
pub fn split_slots(shards: u32) -> Vec<SlotRange> {
    let total = u32::from(SLOT_COUNT);
    if shards == 0 || shards > total {
        return Vec::new();
    }
    (0..shards)
        .filter_map(|i| {
            let start = u16::try_from(i * total / shards).ok()?;
            let end = u16::try_from((i + 1) * total / shards - 1).ok()?;
            Some(SlotRange { start, end })
        })
        .collect()
}

/// `0-5460,5461-10922`; `-` for none.
pub fn format_ranges(ranges: &[SlotRange]) -> String {
    if ranges.is_empty() {
        return "-".to_owned();
    }
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn three_shards_split_like_redis_cli() {
        let r = split_slots(3);
        assert_eq!(format_ranges(&r), "0-5460,5461-10921,10922-16383");
    }

    proptest! {
        #[test]
        fn every_slot_is_covered_once(shards in 1u32..=16384) {
            let ranges = split_slots(shards);
            prop_assert_eq!(ranges.len(), shards as usize);
            let mut next = 0u32;
            for r in &ranges {
                prop_assert_eq!(u32::from(r.start), next);
                prop_assert!(r.end >= r.start);
                next = u32::from(r.end) + 1;
            }
            prop_assert_eq!(next, u32::from(SLOT_COUNT));
            let sizes: Vec<usize> = ranges.iter().map(SlotRange::len).collect();
            let (min, max) = (sizes.iter().min().copied(), sizes.iter().max().copied());
            prop_assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1));
        }
    }
}
