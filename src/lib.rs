//! shootlog: the path that makes a live photoshoot write its own history.
//!
//! Data flows one way: [`api`] → [`domain`] → [`journal`] → [`forwarder`] →
//! [`ledger`]. `domain` is the shared vocabulary (pure types) and [`limits`]
//! the shared numbers, both importing nothing of the crate; `journal` knows
//! only `domain`, `ledger` `domain` and `limits`; `forwarder` joins them;
//! `api` sits on top and builds its own types from [`config`]'s plain
//! settings. [`embedded`] is the ledger contract a second time, inside the
//! service (it knows nothing of the crate: wire events in, verdicts and rows
//! out); the forwarder's follower keeps it level with the journal.
//! [`service`] wires them together for `main`.

pub mod api;
pub mod config;
pub mod domain;
pub mod embedded;
pub mod forwarder;
pub mod journal;
pub mod ledger;
pub mod limits;
pub mod progress;
pub mod reads;
pub mod service;
pub mod telemetry;
