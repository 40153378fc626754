mod fused;
mod golden;
mod sources;
mod training_mode;
