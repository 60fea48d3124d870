//! troop-monkeys: the monkeys and the AWS context they share.
//!
//! Every monkey is a folder of the same shape: `mod.rs` (the `Monkey` impl and
//! its `build`), pure logic in its own files (tested with tables of cases), IO
//! in `collect.rs`. Config types live in troop-config; `build` here turns them
//! into running monkeys. [`registry`] is the one place that knows them all.

pub mod aws;
pub mod certs;
pub mod limits;
pub mod registry;
pub mod security;
