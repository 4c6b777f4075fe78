//! Argument types shared by several commands.

use clap::ValueEnum;
use redis_stretch_api::ServerFlavour;
use redis_stretch_drill::ZoneFault;
use redis_stretch_local::FaultSignal;

/// `--output`: a table for people, JSON for programs (schemas in docs/CLI.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Json,
}

/// `--signal`: how a zone goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FaultSignalArg {
    /// SIGKILL: a crash, connections refused at once.
    Kill,
    /// SIGSTOP: frozen, silence and timeouts.
    Stop,
}

impl From<FaultSignalArg> for FaultSignal {
    fn from(s: FaultSignalArg) -> Self {
        match s {
            FaultSignalArg::Kill => FaultSignal::Kill,
            FaultSignalArg::Stop => FaultSignal::Stop,
        }
    }
}

impl From<FaultSignalArg> for ZoneFault {
    fn from(s: FaultSignalArg) -> Self {
        match s {
            FaultSignalArg::Kill => ZoneFault::Kill,
            FaultSignalArg::Stop => ZoneFault::Stop,
        }
    }
}

/// `validate --output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ManifestOutput {
    Yaml,
    Json,
}

/// `--server`: which server a local cluster runs, over what its manifest says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServerArg {
    Redis,
    Valkey,
}

impl From<ServerArg> for ServerFlavour {
    fn from(s: ServerArg) -> Self {
        match s {
            ServerArg::Redis => ServerFlavour::Redis,
            ServerArg::Valkey => ServerFlavour::Valkey,
        }
    }
}
