"""Monte Carlo engine: seeds, executors, results store and statistics (knows nothing of patrols)."""
