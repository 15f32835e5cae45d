#![forbid(unsafe_code)]
pub mod execute;
