//! `record_processor check-properties FILE`: validates a rendered KCL properties file.

use std::path::PathBuf;

/// Options of `check-properties`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rendered properties file.
    pub file: PathBuf,
}

/// Checks the file; returns the exit status (0: fine or warnings only, 1: errors).
pub fn run(args: &Args) -> anyhow::Result<u8> {
    anyhow::bail!(
        "check-properties is not implemented yet ({})",
        args.file.display()
    )
}
