//! hermes-relayhost: the Hermes SEG *Relay Host* save cascade as an idempotent module.
//! The pipeline (see ARCHITECTURE.md): `args` → `validate` → `store` (rows as `model`) →
//! `plan` (with `render`) → `apply` (`files`, `postfix`) → `protocol`.

pub mod apply;
pub mod args;
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
pub mod plan;
pub mod postfix;
pub mod probe;
pub mod protocol;
pub mod render;
pub mod request;
pub mod rotate;
pub mod rows;
pub mod run;
pub mod store;
pub mod tls;
pub mod validate;

pub use error::{Error, Result};
