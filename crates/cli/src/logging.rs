//! Logging: `REDIS_STRETCH_LOG` filters (e.g. `info`, `redis_stretch=debug,kube=info`),
//! `REDIS_STRETCH_LOG_FORMAT` chooses `text` (the default, for people) or `json` (one object
//! per line, for a log pipeline: the operator's chart value `logFormat`). Always on stderr:
//! stdout carries the commands' own output.

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// The format `REDIS_STRETCH_LOG_FORMAT` names; unset or empty is text. An unknown value
    /// is returned as the error, for a warning once logging is up.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("" | "text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(other.to_owned()),
        }
    }
}

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REDIS_STRETCH_LOG")
        // redis-rs narrates every reconnect at WARN; during a drill that is noise.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,redis=error"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let format = LogFormat::parse(std::env::var("REDIS_STRETCH_LOG_FORMAT").ok().as_deref());
    match format {
        // Fields at the top level beside `message`, as log pipelines index them.
        Ok(LogFormat::Json) => builder.json().flatten_event(true).init(),
        Ok(LogFormat::Text) => builder.init(),
        Err(other) => {
            builder.init();
            tracing::warn!(
                "REDIS_STRETCH_LOG_FORMAT={other:?} is neither text nor json: logging as text"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_text_unless_json_is_asked_for() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("text")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("json")), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(Some("xml")), Err("xml".to_owned()));
    }
}
