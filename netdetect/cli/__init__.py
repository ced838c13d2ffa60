"""Command line: one module per subcommand, registered on the `netdetect` group in main.py."""
