"""One module per ``mmrl`` subcommand; see ``mmrl.cli.COMMANDS``."""
