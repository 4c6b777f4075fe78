//! Polling with a deadline: every wait in the tests says what it waits for and, when it gives
//! up, what it saw last.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Poll `probe` every `every` until it returns `Step::Done(value)`, or fail after `limit` with
/// what the last `Step::Pending` said, or the last error.
pub async fn until<T, F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step<T>>>,
{
    let start = Instant::now();
    loop {
        let last = match probe().await {
            Ok(Step::Done(v)) => return Ok(v),
            Ok(Step::Pending(seen)) => seen,
            Err(e) => format!("error: {e}"),
        };
        if start.elapsed() >= limit {
            return Err(Error::Timeout {
                what: what.to_owned(),
                secs: limit.as_secs_f64(),
                last,
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// One poll's outcome: done with a value, or not yet, with what was seen.
pub enum Step<T> {
    Done(T),
    Pending(String),
}
