//! One module per subcommand.

pub mod detect;
pub mod firewall;
pub mod local;
pub mod outfile;
pub mod policy;
pub mod port;
pub mod registry;
pub mod scan;
pub mod service;
