mod general;
mod head;
mod masking;
mod runs;
