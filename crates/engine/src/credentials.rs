//! What each instance holds of the engine's passwords ([`AuthSeen`]), for the rotation rule.
//! Passwords are compared by SHA-256, as `ACL GETUSER` lists them, and `masterauth` by
//! equality here: neither a password nor a hash ever reaches the snapshot.

use redis_stretch_admin::{AdminError, NodeAddr};
use redis_stretch_decide::{AuthSeen, PasswordRef, Snapshot};

use crate::Pool;

/// Fill `auth` of every instance that answered, when the engine has a password. An instance
/// whose credentials cannot be read keeps `None`: the rotation rule waits for it.
pub(crate) async fn annotate(snapshot: &mut Snapshot, pool: &Pool) {
    if pool.password().is_none() {
        return;
    }
    let targets: Vec<(usize, NodeAddr)> = snapshot
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.reachable && n.name.is_some())
        .filter_map(|(i, n)| n.addr.clone().map(|a| (i, a)))
        .collect();
    let seen = futures_util::future::join_all(
        targets
            .iter()
            .map(|(_, addr)| async move { auth_seen(addr, pool).await.ok().flatten() }),
    )
    .await;
    for ((i, _), auth) in targets.iter().zip(seen) {
        if let Some(n) = snapshot.nodes.get_mut(*i) {
            n.auth = auth;
        }
    }
}

async fn auth_seen(addr: &NodeAddr, pool: &Pool) -> Result<Option<AuthSeen>, AdminError> {
    let c = pool.get(addr).await?;
    let Some(engine_uses) = pool.uses(addr) else {
        return Ok(None);
    };
    let (user, masterauth) = tokio::try_join!(
        c.acl_password_hashes("default"),
        c.config_get_secret("masterauth")
    )?;
    // A `nopass` user takes any password: there is nothing to rotate.
    let Some(user) = user.filter(|u| !u.nopass) else {
        return Ok(None);
    };
    let hash = |which| pool.secret(which).map(|s| s.sha256_hex());
    let (current, previous) = (hash(PasswordRef::Current), hash(PasswordRef::Previous));
    let holds = |h: &Option<String>| h.as_ref().is_some_and(|h| user.password_hashes.contains(h));
    let others = user
        .password_hashes
        .iter()
        .filter(|h| Some(*h) != current.as_ref() && Some(*h) != previous.as_ref())
        .count();
    let masterauth = masterauth.and_then(|m| {
        [PasswordRef::Current, PasswordRef::Previous]
            .into_iter()
            .find(|w| pool.secret(*w) == Some(&m))
    });
    Ok(Some(AuthSeen {
        engine_uses,
        holds_current: holds(&current),
        holds_previous: previous.as_ref().map(|_| holds(&previous)),
        others: u32::try_from(others).unwrap_or(u32::MAX),
        masterauth,
    }))
}
