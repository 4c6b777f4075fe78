//! Redis memory sizes (`maxmemory 256mb`): the units Redis itself accepts, so that what
//! validation passes is exactly what `redis-server` will take.

/// Bytes in a Redis size like `1024`, `64kb`, `256mb`, `2gb` (also `k`, `m`, `g`: powers of
/// 1000, as in redis.conf).
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` does not start with a number"))?;
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        other => return Err(format!("`{s}` has an unknown unit `{other}`")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_memory;

    #[test]
    fn units_match_redis_conf() {
        assert_eq!(parse_memory("1024"), Ok(1024));
        assert_eq!(parse_memory("64mb"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_memory("2GB"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert!(parse_memory("mb").is_err());
        assert!(parse_memory("12xb").is_err());
        assert!(parse_memory("99999999999999999999gb").is_err());
    }
}
