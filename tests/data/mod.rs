mod bad_input;
mod cgt_dasp;
mod clean;
mod import;
mod synth;
