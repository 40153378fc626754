mod head;
mod masking;
mod runs;
