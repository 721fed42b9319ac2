"""The security-gap model: Mesa agents, submodels and the replicate entry point."""
