//! Line-level evidence: attributions, their line numbers, localisation scores.

mod attribution;
mod cli;
mod localise;
