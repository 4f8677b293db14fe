//! hermes-relayhost: the Hermes SEG *Relay Host* save cascade as an idempotent module.
//! The pipeline (see ARCHITECTURE.md): `request` → `args` → `options` → `validate` → `load`
//! (`store`, rows as `model`) → `plan` (`rows`, `render`; `diff`) → `apply` (`files`,
//! `postfix`) → `protocol`; `doctor`, `info` and `rotate` are the other requests.

pub mod apply;
pub mod args;
pub mod attempt;
pub mod certificate;
pub mod cli;
pub mod crypto;
pub mod diff;
pub mod doctor;
pub mod error;
pub mod failure;
pub mod files;
pub mod info;
pub mod init;
pub mod load;
pub mod model;
pub mod options;
pub mod output;
pub mod plan;
pub mod postfix;
pub mod probe;
pub mod process;
pub mod protocol;
pub mod reload;
pub mod render;
pub mod request;
pub mod rotate;
pub mod rows;
pub mod run;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod tls;
pub mod validate;
pub mod verified;

pub use error::{Error, Result};
