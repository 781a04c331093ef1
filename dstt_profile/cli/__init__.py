"""The command line: one option parser for every subcommand."""
