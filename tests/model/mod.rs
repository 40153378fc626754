mod bottleneck;
mod fused;
mod golden;
mod moe;
mod sources;
mod training_mode;
