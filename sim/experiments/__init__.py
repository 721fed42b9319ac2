"""Studies (named sweeps and sensitivity analyses), their designs, analysis and collection.

Why a package of its own: ``gapsim sweep experiment=NAME`` reads a study file from
``experiments/``, builds a design (full factorial, Latin hypercube, nearly orthogonal Latin
hypercube, Sobol, Morris), runs the design points through the Monte Carlo engine and analyses the
tidy table it gets back. The engine knows nothing of designs; the model knows nothing of studies.

Modules: ``study`` (loading, validation, design points -> engine points), ``designs`` (unit-cube
designs), ``analysis`` (per-point summaries, Sobol and Morris indices, regression effects),
``collect`` (a Hydra multirun's job directories -> one sweep table), ``launch`` (Hydra launcher
helpers).
"""
