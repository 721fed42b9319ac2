"""The model's mechanisms by name, so a researcher can switch each one off (``model.ablate``).

Why names: an effect counts only if it comes from a mechanism, and a validation pattern counts only if
it disappears when the mechanism said to produce it is switched off. Every name below guards one code
path of the model; ``model.ablate=[informants,qrf]`` runs the model without those paths, and the
difference from the full model (paired by seed) is what the mechanism carries.
"""

from __future__ import annotations

#: Mechanism name -> what switching it off removes.
MECHANISMS: dict[str, str] = {
    "informants": "villagers never pass tips to any force (no handler links, no walk-in reports)",
    "patrols": "no mobile patrols (foot, vehicle, gap sorties); static posts remain",
    "qrf": "no quick-reaction units: alerts are not answered on the ground",
    "pursuit": "units never follow a group across a zone boundary or back to its hideout",
    "air": "no coalition or Iraqi air strikes",
    "isr": "no coalition surveillance (ISR) sensor",
    "checkpoints": "no real road checkpoints (no stops, searches or arrests on roads and at markets)",
    "clearing": "no clearing operations, own or joint",
    "insurgent_learning": "insurgent cells keep their initial picture: they neither remember what they "
                          "see nor hear from their support network",
    "retribution": "insurgents never punish suspected informants",
    "traffic": "no drivers or traders on the roads (fake checkpoints find nobody to stop)",
}


def check_ablate(names: list[str] | tuple[str, ...], key: str = "model.ablate") -> None:
    """Raise ConfigError naming the first unknown mechanism."""
    from sim.errors import ConfigError

    for name in names:
        if name not in MECHANISMS:
            raise ConfigError(key, list(names),
                              f"unknown mechanism {name!r}; allowed: {', '.join(MECHANISMS)}")
