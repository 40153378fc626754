mod config;
mod metrics;
mod optimizer;
mod runs;
