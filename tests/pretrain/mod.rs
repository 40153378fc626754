mod general;
mod head;
mod masking;
pub(crate) mod runs;
