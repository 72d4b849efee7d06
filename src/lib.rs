//! shootlog: the path that makes a live photoshoot write its own history.
//!
//! Data flows one way: [`api`] → [`domain`] → [`journal`] → [`forwarder`] →
//! [`ledger`]. `domain` is the shared vocabulary (pure types); `journal` and
//! `ledger` know only `domain`; `forwarder` joins them; `api` sits on top.
//! [`service`] wires them together for `main`.

pub mod api;
pub mod config;
pub mod domain;
pub mod forwarder;
pub mod journal;
pub mod ledger;
pub mod progress;
pub mod service;
pub mod telemetry;
