"""City diplomacy: an agent-based model of international city networks, built on Mesa.

`CityDiplomacyModel` is imported lazily, so that reading and validating scenario files (and the
command line's error messages) do not pay for importing Mesa, pandas and scipy.
"""

from model.config import Scenario, ScenarioError
from model.loading import load_scenario

__all__ = ["CityDiplomacyModel", "Scenario", "ScenarioError", "load_scenario"]


def __getattr__(name):
    if name == "CityDiplomacyModel":
        from model.model import CityDiplomacyModel

        return CityDiplomacyModel
    raise AttributeError(f"module 'model' has no attribute {name!r}")
