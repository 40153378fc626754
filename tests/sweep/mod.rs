mod claims;
mod corpus;
mod grid;
mod runs;
