//! Kubernetes resource quantities (`500m`, `1.5`, `1Gi`, `2e3`), exactly enough to compare pod
//! requests with node allocatable the way the scheduler does (integer milli-CPU and bytes,
//! rounded up).

/// CPU in millicores.
pub fn cpu_millis(q: &str) -> Result<u128, String> {
    scaled(q, 1000)
}

/// Memory (or storage) in bytes.
pub fn bytes(q: &str) -> Result<u128, String> {
    scaled(q, 1)
}

/// `q × scale`, rounded up, as a non-negative integer.
fn scaled(q: &str, scale: u128) -> Result<u128, String> {
    let s = q.trim();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(num_end);
    let number = number.strip_prefix('+').unwrap_or(number);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err("no number".to_owned());
    }
    if !(int_part.chars().chain(frac_part.chars())).all(|c| c.is_ascii_digit()) {
        return Err("malformed number".to_owned());
    }
    let digits = format!("{int_part}{frac_part}");
    let mantissa: u128 = digits.parse().map_err(|_| "number too large".to_owned())?;
    let frac_len = u32::try_from(frac_part.len()).map_err(|_| "too many digits".to_owned())?;
    // value = mantissa / 10^frac_len × num / den
    let (num, den): (u128, u128) = match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1000),
        "k" => (1000, 1),
        "M" => (1000u128.pow(2), 1),
        "G" => (1000u128.pow(3), 1),
        "T" => (1000u128.pow(4), 1),
        "P" => (1000u128.pow(5), 1),
        "E" => (1000u128.pow(6), 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        other => match other.strip_prefix(['e', 'E']).map(str::parse::<u32>) {
            Some(Ok(exp)) if exp <= 18 => (10u128.pow(exp), 1),
            _ => return Err(format!("unknown suffix `{other}`")),
        },
    };
    let too_large = || "too large".to_owned();
    let top = mantissa
        .checked_mul(num)
        .and_then(|v| v.checked_mul(scale))
        .ok_or_else(too_large)?;
    let bottom = 10u128
        .checked_pow(frac_len)
        .and_then(|v| v.checked_mul(den))
        .ok_or_else(too_large)?;
    Ok(top.div_ceil(bottom))
}

/// `1500m` → `1.5`, for messages; millicores as the scheduler reports them.
pub fn format_cpu(millis: u128) -> String {
    if millis.is_multiple_of(1000) {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

/// Bytes in the largest binary unit that divides them evenly enough to read.
pub fn format_bytes(b: u128) -> String {
    const UNITS: [(&str, u128); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if b >= size {
            let tenths = b * 10 / size;
            return if tenths.is_multiple_of(10) {
                format!("{}{unit}", tenths / 10)
            } else {
                format!("{}.{}{unit}", tenths / 10, tenths % 10)
            };
        }
    }
    format!("{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_like_the_scheduler() {
        assert_eq!(cpu_millis("500m"), Ok(500));
        assert_eq!(cpu_millis("2"), Ok(2000));
        assert_eq!(cpu_millis("1.5"), Ok(1500));
        assert_eq!(cpu_millis("0.0001"), Ok(1), "rounded up");
        assert_eq!(cpu_millis("3920m"), Ok(3920));
        assert!(cpu_millis("m").is_err());
        assert!(cpu_millis("1x").is_err());
    }

    #[test]
    fn memory_units() {
        assert_eq!(bytes("1Gi"), Ok(1 << 30));
        assert_eq!(bytes("16318412Ki"), Ok(16318412 * 1024));
        assert_eq!(bytes("1G"), Ok(1_000_000_000));
        assert_eq!(bytes("128974848"), Ok(128974848));
        assert_eq!(bytes("129e6"), Ok(129_000_000));
        assert_eq!(bytes("1.5Gi"), Ok(3 << 29));
        assert_eq!(format_bytes(3 << 29), "1.5Gi");
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_cpu(2000), "2");
    }
}
