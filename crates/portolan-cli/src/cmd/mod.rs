//! One module per subcommand.

pub mod detect;
pub mod local;
pub mod outfile;
pub mod port;
pub mod registry;
pub mod scan;
pub mod service;
pub mod vulns;
