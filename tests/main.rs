//! One integration-test binary (each binary links the whole engine; see DESIGN.md, CI budget).

mod cli;
mod common;
mod data;
mod distill;
mod explain;
mod model;
mod pretrain;
mod report;
mod sweep;
mod tokenize;
mod train;
mod tui;
