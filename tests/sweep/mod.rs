mod claims;
mod grid;
mod runs;
