mod bottleneck;
mod embeddings;
mod fused;
mod golden;
mod moe;
mod sources;
mod training_mode;
