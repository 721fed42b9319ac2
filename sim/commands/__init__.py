"""What each ``gapsim`` subcommand does once its configuration is valid."""
