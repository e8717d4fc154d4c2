//! Attribute macros of the [`fasteners`](https://docs.rs/fasteners) crate.
//!
//! Use them through `fasteners`, which re-exports them and documents each one.
