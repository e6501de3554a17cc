pub mod lab;
pub mod scanlab;
