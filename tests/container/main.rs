//! The container tier: the host build of the binary against a Hermes-like container topology
//! started by `scripts/topology.sh up DIR` (a private dockerd; Postfix in `hermes_postfix_dkim`
//! with the host's Postfix dir bind-mounted as its /etc/postfix; MariaDB in `hermes_db_server`
//! with Hermes's schema), with the DEFAULT location options: `postfix_exec` is `docker exec
//! hermes_postfix_dkim`, `postfix_exec_dir` is /etc/postfix; only `root` points at the host
//! layout and `database` at the MariaDB. Mail sent into the container's Postfix must reach a
//! smarthost on the host's loopback, authenticated as configured.
//!
//! Not part of a plain `cargo test` (`test = false` in Cargo.toml): run
//! `HERMES_TOPOLOGY=DIR/topology.env cargo test --test container` after `scripts/topology.sh
//! up DIR` (scripts/test.sh does both, and `down`). Needs root and the test venv's aiosmtpd
//! (scripts/install-python-deps.sh).

// The integration crate's fixture helpers and real parts (smarthost, polling); this crate uses
// a part of them.
#[allow(dead_code)]
#[path = "../integration/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../integration/support/mod.rs"]
mod support;

mod topology;

mod check;
mod differential;
mod errors;
mod relay;
mod rotation;
mod runners;
