mod bottleneck;
mod embeddings;
mod fused;
mod golden;
mod int8;
mod moe;
mod sources;
mod training_mode;
