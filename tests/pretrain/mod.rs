mod head;
mod masking;
mod runs;
mod general;
