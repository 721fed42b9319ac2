"""Pattern-oriented validation (Grimm et al. 2005): several weak patterns at once."""
