//! What the engine waits for when a pass asks for nothing: typed, so that callers (the CLI's
//! break-glass commands, drills, status) test for a case instead of matching a sentence, and
//! shown to people through `Display`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::SideRule;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "kebab-case")]
pub enum Waiting {
    /// Every zone answers and masters sit as preferred: nothing to do.
    AsPreferred,
    /// `takeover` found no shard to take over.
    NothingToTakeOver,
    /// `evacuate` is done: the zone holds no masters.
    Evacuated { zone: String },
    /// The zone is lost; survivors serve every slot they can.
    ZoneReturn { lost: String, survivor: String },
    /// Every instance of the zone is silent, for less than the confirmation window.
    Confirming { zone: String, silent_ms: u64 },
    /// Both zones dark: the engine itself may be the one cut off.
    EngineCutOff { zones: Vec<String> },
    /// The intent names a zone this cluster does not have, or the survivor is unknown.
    UnknownZone { zone: String },
    /// A person must run `command` (policy or failback Manual).
    Human { command: String, reason: String },
    /// A master is silent while survivors keep a majority: Redis elects its replica itself.
    RedisElects {
        masters: Vec<String>,
        kept: usize,
        total: usize,
    },
    /// A master does not answer and survivors are below quorum: confirming it is lost.
    ConfirmingLost { master: String, quorum: usize },
    /// Masters are lost and no replica tells where they lived.
    Unplaced { masters: Vec<String> },
    /// Masters are lost in both zones: no zone can take over for the other.
    LostInBothZones,
    /// A graceful failover waits until every voter has heard what the election needs.
    Gossip {
        shard: String,
        candidate: String,
        reason: String,
    },
    /// A graceful failover was asked for; Redis may still be electing the candidate.
    FailoverPending { candidate: String, retry_in_ms: u64 },
    /// Masters that should move have no replica in sync on the other side yet.
    NoReplicaInSync { zone: String, masters: usize },
    /// Failback into `zone` waits for a replica there with its link up.
    ReplicaLink { zone: String },
    /// `zone` is evacuated (held): no failback until `resume`.
    Held { zone: String },
    /// Failback into `zone` waits for its hold-down (it came back recently).
    HoldDown {
        zone: String,
        until_ms: u64,
        left_ms: u64,
    },
    /// Every pair of instances across the zones has been silent for `silent_ms`, with pings
    /// pending: confirming a cut until `threshold_ms`.
    ConfirmingCut { silent_ms: u64, threshold_ms: u64 },
    /// The zones are cut from each other: `chosen` serves every slot, `fenced` refuses writes.
    Partition {
        chosen: String,
        fenced: String,
        rule: SideRule,
    },
    /// The cut healed; gossip is settling which master owns the slots both sides claimed.
    PartitionHealing {
        fenced: String,
        slots_claimed_twice: usize,
    },
    /// The side chosen in a partition went dark: a person decides.
    ChosenSideDark { zone: String },
    /// Every instance that answers refuses the engine (`errors`: instance and what it said),
    /// so it can neither see nor act: most often the servers' password is not the engine's.
    Refused { errors: Vec<String> },
    /// A rollout is under way: `done` of `total` instances restarted at the new revision;
    /// `instance` is the one it waits on, for the reason `why`.
    Rolling {
        done: usize,
        total: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        why: String,
    },
    /// The cluster's shard count differs from the spec's: `shards` masters serve slots now,
    /// the spec asks for `target`; `slots_left` of the migration's slots still to move.
    Scaling {
        shards: usize,
        target: u32,
        slots_left: usize,
        why: String,
    },
}

impl Waiting {
    /// The intent of the pass has nothing left to do: `AsPreferred` (failback done),
    /// `Evacuated`, `ZoneReturn` (takeover done), `NothingToTakeOver`.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            Waiting::AsPreferred
                | Waiting::NothingToTakeOver
                | Waiting::Evacuated { .. }
                | Waiting::ZoneReturn { .. }
        )
    }
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::AsPreferred => {
                write!(f, "nothing: every zone answers and masters sit as preferred")
            }
            Waiting::NothingToTakeOver => write!(f, "nothing to take over"),
            Waiting::Evacuated { zone } => write!(f, "{zone} holds no masters: evacuated"),
            Waiting::ZoneReturn { lost, survivor } => write!(
                f,
                "{lost} is lost; survivors in {survivor} serve every slot they can; waiting for {lost} to return"
            ),
            Waiting::Confirming { zone, silent_ms } => write!(
                f,
                "every instance of {zone} silent for {silent_ms} ms; confirming before acting"
            ),
            Waiting::EngineCutOff { zones } => write!(
                f,
                "no instance answers in {}: the engine itself may be cut off, so it does nothing",
                zones.join(" or ")
            ),
            Waiting::UnknownZone { zone } => write!(f, "unknown zone `{zone}`"),
            Waiting::Human { command, reason } => {
                write!(f, "a human to run `{command}` ({reason})")
            }
            Waiting::RedisElects {
                masters,
                kept,
                total,
            } => write!(
                f,
                "{} not answering; survivors hold {kept} of {total} masters, so Redis elects their replicas itself after node-timeout",
                masters.join(", ")
            ),
            Waiting::ConfirmingLost { master, quorum } => write!(
                f,
                "{master} does not answer and survivors are below quorum {quorum}; confirming it is lost (silent for the confirmation window and flagged by its peers) before any takeover"
            ),
            Waiting::Unplaced { masters } => write!(
                f,
                "{} lost with no replica in either zone to tell where they lived",
                masters.join(", ")
            ),
            Waiting::LostInBothZones => write!(
                f,
                "masters lost in both zones: no zone can take over for the other"
            ),
            Waiting::Gossip {
                shard,
                candidate,
                reason,
            } => write!(f, "moving {shard} to {candidate} waits for gossip: {reason}"),
            Waiting::FailoverPending {
                candidate,
                retry_in_ms,
            } => write!(
                f,
                "graceful failover to {candidate} requested; Redis may still be electing it ({:.1} s before asking again)",
                *retry_in_ms as f64 / 1000.0
            ),
            Waiting::NoReplicaInSync { zone, masters } => write!(
                f,
                "{masters} master(s) left in {zone}, none with an in-sync replica in the other zone"
            ),
            Waiting::ReplicaLink { zone } => write!(
                f,
                "failback to {zone} waits for a replica there with its link up"
            ),
            Waiting::Held { zone } => write!(
                f,
                "{zone} is evacuated: no failback until `redis-stretch resume`"
            ),
            Waiting::HoldDown { zone, left_ms, .. } => write!(
                f,
                "failback hold-down: {:.1} s left before moving masters back to {zone}",
                *left_ms as f64 / 1000.0
            ),
            Waiting::ConfirmingCut {
                silent_ms,
                threshold_ms,
            } => write!(
                f,
                "every instance answers, but the zones have not heard each other for {silent_ms} ms; a cut is confirmed at {threshold_ms} ms"
            ),
            Waiting::Partition {
                chosen,
                fenced,
                rule,
            } => write!(
                f,
                "partition between the zones: {chosen} serves every slot ({rule}); {fenced} is fenced and refuses writes until the heal"
            ),
            Waiting::PartitionHealing {
                fenced,
                slots_claimed_twice,
            } => write!(
                f,
                "the cut healed; {slots_claimed_twice} slot(s) still claimed by two masters until {fenced} hears the newer epochs"
            ),
            Waiting::ChosenSideDark { zone } => write!(
                f,
                "{zone}, the side chosen in the partition, is dark: no takeover from it without a person"
            ),
            Waiting::Refused { errors } => write!(
                f,
                "the instances answer but refuse the engine, which can neither see nor act: {}",
                errors.join("; ")
            ),
            Waiting::Rolling {
                done,
                total,
                instance,
                why,
            } => match instance {
                Some(i) => write!(f, "rollout {done} of {total}: {i}: {why}"),
                None => write!(f, "rollout {done} of {total}: {why}"),
            },
            Waiting::Scaling {
                shards,
                target,
                slots_left,
                why,
            } => write!(
                f,
                "scaling to {target} shards ({shards} masters now, {slots_left} slots left to move): {why}"
            ),
        }
    }
}
