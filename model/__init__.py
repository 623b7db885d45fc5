"""City diplomacy: an agent-based model of international city networks, built on Mesa."""

from model.config import Scenario, ScenarioError, load_scenario
from model.model import CityDiplomacyModel

__all__ = ["CityDiplomacyModel", "Scenario", "ScenarioError", "load_scenario"]
