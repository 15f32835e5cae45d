#![forbid(unsafe_code)]
pub mod generate;
