//! One module per subcommand.

pub mod block;
pub mod detect;
pub mod diff;
pub mod firewall;
pub mod local;
pub mod outfile;
pub mod policy;
pub mod port;
pub mod records;
pub mod registry;
pub mod scan;
pub mod service;
pub mod store;
pub mod vulns;
