mod bad_input;
mod cgt_dasp;
mod clean;
mod holdout;
mod import;
mod synth;
