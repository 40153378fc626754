//! Alambic: a workbench for distilling code language models that detect vulnerabilities in
//! Solidity smart contracts.
//!
//! The library is the engine; the binary (`src/main.rs`, `src/cli/`) is one view over it. The
//! engine modules never import a terminal UI crate.

#![deny(clippy::unwrap_used)]

pub mod bench;
pub mod check;
pub mod data;
pub mod distill;
pub mod eval;
pub mod explain;
pub mod infer;
pub mod model;
pub mod pretrain;
pub mod report;
pub mod runtime;
pub mod store;
pub mod sweep;
pub mod testing;
pub mod tokenize;
pub mod train;
pub mod tui;
