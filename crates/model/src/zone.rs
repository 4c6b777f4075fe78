/// Zone name used for nodes the platform cannot place.
pub const UNKNOWN_ZONE: &str = "unknown";
