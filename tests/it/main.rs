//! Integration tests: the real `troop` binary against a real moto server on
//! loopback, seeded through the Rust AWS SDK. One test binary (fast to link);
//! every test starts its own emulator, so tests are independent.

mod support;

mod accounts;
mod alerts;
mod attribution;
mod bad_input;
mod certs;
mod config_cli;
mod crash;
mod daemon;
mod deploy;
mod http_access;
mod limits;
mod mistakes;
mod organization;
mod posted;
mod postgres;
mod races;
mod resources;
mod scan;
mod security;
mod semantics;
mod timeline;
mod ui;
