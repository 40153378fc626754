mod e2e;
mod evidence;
pub(crate) mod fixtures;
mod panes;
mod update;
