mod config;
mod metrics;
mod optimizer;
pub(crate) mod runs;
