//! Moving slots between masters: the classic commands (`CLUSTER SETSLOT`, `GETKEYSINSLOT`,
//! `MIGRATE`, in the order redis-cli uses them) and Valkey 9's atomic migration
//! (`CLUSTER MIGRATESLOTS`, `GETSLOTMIGRATIONS`). The engine composes them
//! (`redis_stretch_engine::migrate`); here each is one bounded command.

use redis_stretch_model::SlotRange;

use crate::client::cluster;
use crate::{AdminClient, AdminError, NodeAddr, Secret};

/// `CLUSTER SETSLOT slot …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetSlot<'a> {
    /// On the target: keys of the slot may be created here by `ASKING` clients.
    Importing(&'a str),
    /// On the source: a key it no longer has is answered with `-ASK` to the target.
    Migrating(&'a str),
    /// The slot belongs to the node (on the target first, then the source, then the rest).
    Node(&'a str),
    /// Clear importing/migrating.
    Stable,
}

/// One job of `CLUSTER GETSLOTMIGRATIONS` (Valkey 9.0+), the fields the engine reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotMigrationJob {
    pub name: String,
    /// `export` on the source, `import` on the target.
    pub operation: String,
    pub slot_ranges: String,
    pub state: String,
    pub message: String,
}

impl SlotMigrationJob {
    /// Over: succeeded, failed or cancelled.
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "success" | "failed" | "cancelled")
    }
}

impl AdminClient {
    pub async fn setslot(&self, slot: u16, how: SetSlot<'_>) -> Result<(), AdminError> {
        let mut cmd = cluster(&["SETSLOT"]);
        cmd.arg(slot);
        match how {
            SetSlot::Importing(id) => cmd.arg("IMPORTING").arg(id),
            SetSlot::Migrating(id) => cmd.arg("MIGRATING").arg(id),
            SetSlot::Node(id) => cmd.arg("NODE").arg(id),
            SetSlot::Stable => cmd.arg("STABLE"),
        };
        self.call::<redis::Value>(&cmd).await.map(|_| ())
    }

    /// Up to `count` keys of `slot` held here.
    pub async fn keys_in_slot(&self, slot: u16, count: usize) -> Result<Vec<Vec<u8>>, AdminError> {
        let mut cmd = cluster(&["GETKEYSINSLOT"]);
        cmd.arg(slot).arg(count);
        self.call(&cmd).await
    }

    pub async fn count_keys_in_slot(&self, slot: u16) -> Result<u64, AdminError> {
        let mut cmd = cluster(&["COUNTKEYSINSLOT"]);
        cmd.arg(slot);
        self.call(&cmd).await
    }

    /// `MIGRATE host port "" 0 timeout [REPLACE] [AUTH password] KEYS k…`: the keys move to
    /// `target` (written there, deleted here) in one command. Errors leave the password out.
    pub async fn migrate_keys(
        &self,
        target: &NodeAddr,
        keys: &[Vec<u8>],
        timeout_ms: u64,
        replace: bool,
        password: Option<&Secret>,
    ) -> Result<(), AdminError> {
        let mut cmd = redis::cmd("MIGRATE");
        cmd.arg(&target.host)
            .arg(target.port)
            .arg("")
            .arg(0)
            .arg(timeout_ms);
        if replace {
            cmd.arg("REPLACE");
        }
        if let Some(p) = password {
            cmd.arg("AUTH").arg(p.expose());
        }
        cmd.arg("KEYS");
        for k in keys {
            cmd.arg(k.as_slice());
        }
        let what = format!(
            "MIGRATE {target} \"\" 0 {timeout_ms}{}{} KEYS ({} keys)",
            if replace { " REPLACE" } else { "" },
            if password.is_some() { " AUTH ***" } else { "" },
            keys.len()
        );
        self.call_described::<redis::Value>(&cmd, what)
            .await
            .map(|_| ())
    }

    /// `ASKING` + `MIGRATE … REPLACE` of one key of a slot this node imports but does not own
    /// (a slot left open): the key goes to `target`, replacing a copy there.
    pub async fn migrate_key_asking(
        &self,
        target: &NodeAddr,
        key: &[u8],
        timeout_ms: u64,
        password: Option<&Secret>,
    ) -> Result<(), AdminError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ASKING").ignore();
        let m = pipe
            .cmd("MIGRATE")
            .arg(&target.host)
            .arg(target.port)
            .arg(key)
            .arg(0)
            .arg(timeout_ms)
            .arg("REPLACE");
        if let Some(p) = password {
            m.arg("AUTH").arg(p.expose());
        }
        let what = format!(
            "ASKING + MIGRATE {target} <key> 0 {timeout_ms} REPLACE{}",
            if password.is_some() { " AUTH ***" } else { "" }
        );
        let (_,): (redis::Value,) = self.call_pipe(&pipe, &what).await?;
        Ok(())
    }

    /// `DEL` of keys in a slot this node imports (with `ASKING`, which lets the command reach
    /// a slot the node does not own yet).
    pub async fn del_asking(&self, keys: &[Vec<u8>]) -> Result<u64, AdminError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ASKING").ignore();
        let del = pipe.cmd("DEL");
        for k in keys {
            del.arg(k.as_slice());
        }
        let (n,): (u64,) = self.call_pipe(&pipe, "ASKING + DEL").await?;
        Ok(n)
    }

    /// `WAIT numreplicas timeout`: how many replicas acknowledged every write made on this
    /// connection's node so far.
    pub async fn wait_replicas(&self, replicas: u32, timeout_ms: u64) -> Result<u64, AdminError> {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(replicas).arg(timeout_ms);
        self.call(&cmd).await
    }

    /// Valkey 9.0+: `CLUSTER MIGRATESLOTS SLOTSRANGE s e … NODE target` on the source; the
    /// job runs in the background (see [`Self::slot_migrations`]).
    pub async fn migrate_slots_atomic(
        &self,
        ranges: &[SlotRange],
        target_id: &str,
    ) -> Result<(), AdminError> {
        let mut cmd = cluster(&["MIGRATESLOTS", "SLOTSRANGE"]);
        for r in ranges {
            cmd.arg(r.start).arg(r.end);
        }
        cmd.arg("NODE").arg(target_id);
        self.call::<redis::Value>(&cmd).await.map(|_| ())
    }

    /// Valkey 9.0+: `CLUSTER GETSLOTMIGRATIONS`, the jobs this node knows (newest last).
    pub async fn slot_migrations(&self) -> Result<Vec<SlotMigrationJob>, AdminError> {
        let jobs: Vec<redis::Value> = self.call(&cluster(&["GETSLOTMIGRATIONS"])).await?;
        Ok(jobs.iter().map(job).collect())
    }
}

/// One job: a flat list of field, value pairs (RESP2) or a map (RESP3).
fn job(v: &redis::Value) -> SlotMigrationJob {
    let pairs: Vec<(String, String)> = match v {
        redis::Value::Map(m) => m.iter().map(|(k, v)| (text(k), text(v))).collect(),
        redis::Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((text(k), text(v))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut j = SlotMigrationJob::default();
    for (k, v) in pairs {
        match k.as_str() {
            "name" => j.name = v,
            "operation" => j.operation = v,
            "slot_ranges" => j.slot_ranges = v,
            "state" => j.state = v,
            "message" => j.message = v,
            _ => {}
        }
    }
    j
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(i) => i.to_string(),
        redis::Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}
