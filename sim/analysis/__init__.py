"""Analysis of results: statistics, figures and maps (reads only the results store)."""
