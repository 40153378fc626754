mod e2e;
mod fixtures;
mod panes;
mod update;
