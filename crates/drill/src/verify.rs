//! Readback: every write the cluster acknowledged must still be there, with its value.
//!
//! Each key is written by exactly one logical write (see [`crate::slots`]), and retries resend
//! the same value, so a write is **lost** when its key is missing or holds anything else. We
//! read back every `Acked` write of both writers, and the `NotAcknowledged` ones of the WAIT
//! writer too (reported apart: losing those is allowed — nobody was told they were safe).
//! "Acknowledged writes lost" is the WAIT writer's figure; "plain writes lost" the plain one's.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::Value;

use crate::connection::{self, cluster_client};
use crate::report::DrillReport;
use crate::{DrillConfig, DrillError, Recorded, WriteOutcome, WriteRecord, WriterKind};

/// Keys per `MGET`; redis-rs splits a multi-slot MGET by node and reassembles the reply.
const BATCH: usize = 256;
/// Readback happens after the drill, on a cluster that should be healthy again; a few tries ride
/// out a failback that is still settling.
const TRIES: u32 = 5;

/// What readback found for one writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readback {
    pub checked: u64,
    pub lost: u64,
    /// Up to 20 lost keys, for a human to look at.
    pub lost_sample: Vec<String>,
    pub not_acknowledged_checked: u64,
    pub not_acknowledged_lost: u64,
}

/// Reads back what `rec` wrote and builds the report. `cluster_check` is left empty for the
/// caller to fill.
pub async fn verify(rec: &Recorded, cfg: &DrillConfig) -> Result<DrillReport, DrillError> {
    let readback = read_back(rec, cfg).await?;
    Ok(DrillReport::build(rec, cfg, &readback))
}

pub(crate) async fn read_back(
    rec: &Recorded,
    cfg: &DrillConfig,
) -> Result<HashMap<WriterKind, Readback>, DrillError> {
    let seeds = cfg.seeds_display();
    let client = cluster_client(
        &cfg.seeds,
        cfg.password.as_ref(),
        cfg.readback_timeout,
        cfg.readback_timeout,
    )?;
    let connect_timeout = cfg.readback_timeout * 2;
    let mut conn = connection::connect(&client, &seeds, connect_timeout).await?;

    let to_check: Vec<&WriteRecord> = rec
        .writes
        .iter()
        .filter(|w| {
            w.outcome == WriteOutcome::Acked
                || (w.writer == WriterKind::Wait && w.outcome == WriteOutcome::NotAcknowledged)
        })
        .collect();
    let mut result: HashMap<WriterKind, Readback> = HashMap::new();
    for chunk in to_check.chunks(BATCH) {
        let keys: Vec<String> = chunk.iter().map(|w| rec.key(w)).collect();
        let mut mget = redis::cmd("MGET");
        mget.arg(&keys);
        let mut tries = 0;
        let values = loop {
            tries += 1;
            match conn.req_packed_command(&mget).await {
                Ok(Value::Array(v)) if v.len() == keys.len() => break v,
                Ok(other) => {
                    return Err(DrillError::Readback {
                        keys: to_check.len(),
                        why: format!("unexpected MGET reply {other:?}"),
                    })
                }
                Err(e) if tries < TRIES => {
                    tracing::debug!("drill readback: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    conn = connection::connect(&client, &seeds, connect_timeout).await?;
                }
                Err(e) => {
                    return Err(DrillError::Readback {
                        keys: to_check.len(),
                        why: e.to_string(),
                    })
                }
            }
        };
        for ((w, key), got) in chunk.iter().zip(&keys).zip(values) {
            let want = rec.value(w);
            let intact = match got {
                Value::BulkString(b) => b == want.as_bytes(),
                Value::SimpleString(s) => s == want,
                _ => false,
            };
            let r = result.entry(w.writer).or_default();
            if w.outcome == WriteOutcome::Acked {
                r.checked += 1;
                if !intact {
                    r.lost += 1;
                    if r.lost_sample.len() < 20 {
                        r.lost_sample.push(key.clone());
                    }
                }
            } else {
                r.not_acknowledged_checked += 1;
                if !intact {
                    r.not_acknowledged_lost += 1;
                }
            }
        }
    }
    Ok(result)
}
