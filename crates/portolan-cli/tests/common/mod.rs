pub mod lab;
pub mod nmapxml;
pub mod scanlab;
