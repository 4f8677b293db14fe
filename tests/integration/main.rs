//! The integration tests, one crate with a module per area (as just and fd do): one binary to
//! build and link instead of one per file. Every test runs the real binary against real parts
//! (`common`: the fixture; `support`: a private Postfix and smarthost; `runners`: the pinned
//! ansible-core and salt and a private copy of the collection).

mod common;
mod runners;
mod support;

mod ansible;
mod apply;
mod check_truth;
mod ci_preview;
mod cli;
mod e2e;
mod faults;
mod fleet;
mod hardening;
mod info;
mod mariadb;
mod plain;
mod plugin;
mod postconf;
mod postfix_checks;
mod probe;
mod release;
mod rotation;
mod salt;
mod shapes;
mod validation;
mod verified;
