"""The security-gap model: Mesa agents, submodels and the replicate entry point."""

#: Version of the model's behaviour. Bump it whenever the same configuration and seed can give other
#: results (a changed rule, parameter default or random-number scheme): run ids and manifests record it,
#: so a resume never mixes replicates of two model versions.
MODEL_VERSION = 4
