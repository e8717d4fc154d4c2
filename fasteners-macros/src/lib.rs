//! Attribute macros of the [`fasteners`](https://docs.rs/fasteners) crate.
//!
//! Use them through `fasteners`, which re-exports them and documents each one:
//! the generated code calls `::fasteners::...` (or the path given with
//! `crate = path`), so this crate alone is of no use.
#![warn(missing_docs)]

mod args;
mod check;
mod expand;
mod module;
mod suggest;

use proc_macro::TokenStream;

use crate::args::LockKind;

/// Runs the function under an exclusive lock (documented in `fasteners`).
#[proc_macro_attribute]
pub fn locked(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(LockKind::Locked, args.into(), item.into()).into()
}

/// Runs the method under the read side of a reader-writer lock (documented in `fasteners`).
#[proc_macro_attribute]
pub fn read_locked(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(LockKind::ReadLocked, args.into(), item.into()).into()
}

/// Runs the method under the write side of a reader-writer lock (documented in `fasteners`).
#[proc_macro_attribute]
pub fn write_locked(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(LockKind::WriteLocked, args.into(), item.into()).into()
}

/// Runs the function under an exclusive file lock (documented in `fasteners`).
#[proc_macro_attribute]
pub fn interprocess_locked(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(LockKind::InterprocessLocked, args.into(), item.into()).into()
}

/// Runs the function under the read side of a file lock (documented in `fasteners`).
#[proc_macro_attribute]
pub fn interprocess_read_locked(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(LockKind::InterprocessReadLocked, args.into(), item.into()).into()
}

/// Runs the function under the write side of a file lock (documented in `fasteners`).
#[proc_macro_attribute]
pub fn interprocess_write_locked(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(LockKind::InterprocessWriteLocked, args.into(), item.into()).into()
}
