//! The `quaderno` binary: parse the command line, hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = api::cli::Cli::parse();
    api::cli::run(cli).await
}
