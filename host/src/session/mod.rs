//! Sessions: one guest instance per session ID, one message at a time, and everything that
//! keeps a session going — its mailbox, its supervisor, hibernation, upgrades, timers, idle
//! expiry, durable checkpoints — and the registry that finds it by ID.
//!
//! Rule: nothing here imports the host facade or `http/`.

pub(crate) mod checkpoint;
pub(crate) mod env;
pub(crate) mod hibernate;
pub(crate) mod lifecycle;
pub(crate) mod live;
pub(crate) mod mailbox;
pub(crate) mod messages;
pub(crate) mod reaper;
pub(crate) mod registry;
pub(crate) mod resolver;
pub(crate) mod start;
pub(crate) mod state;
pub(crate) mod supervisor;
#[cfg(test)]
pub(crate) mod testkit;
pub(crate) mod timers;
pub(crate) mod upgrade;
