//! One module per subcommand.

pub mod detect;
pub mod port;
pub mod registry;
