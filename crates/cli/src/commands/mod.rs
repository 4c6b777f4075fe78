//! One module per command (or family of commands). A command module imports no other command
//! module: what several share lives next to `commands/` (`args`, `target`, `print`,
//! `manifest`, `signal`).

pub mod breakglass;
pub mod demo;
pub mod drill;
pub mod k8s;
pub mod lab;
pub mod local;
pub mod operator;
pub mod status;
pub mod validate;
