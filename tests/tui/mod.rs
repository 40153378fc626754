mod e2e;
pub(crate) mod fixtures;
mod panes;
mod update;
