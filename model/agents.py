"""Mesa agents as thin views onto the model's arrays (docs/ODD.md section 2).

A `CityAgent` or `NetworkAgent` holds only its row index; every attribute reads (and, where it
makes sense, writes) the model's NumPy arrays, so Mesa's AgentSet tools (`select`, `groupby`,
`agg`, `get`) and SolaraViz see ordinary agents while the phases stay array operations.
"""

from __future__ import annotations

import numpy as np
from mesa import Agent

from model.state import RULES


class CityAgent(Agent):
    """A city: a view onto row `index` of the model's city arrays."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = int(index)

    name = property(lambda self: str(self.model.cities.name[self.index]))
    population = property(lambda self: float(self.model.cities.population[self.index]))
    north = property(lambda self: bool(self.model.cities.north[self.index]))
    region = property(lambda self: self.model.region_names[int(self.model.cities.region[self.index])])
    country = property(lambda self: str(self.model.countries.name[self.model.cities.country[self.index]]))
    capacity = property(lambda self: float(self.model.cities.capacity[self.index]))
    attention = property(lambda self: float(self.model.cities.attention[self.index]))  # units of engagement
    visibility = property(lambda self: float(self.model.cities.visibility[self.index]))

    @property
    def budget(self) -> float:
        """International-engagement budget (million USD/year)."""
        return float(self.model.cities.budget[self.index])

    @budget.setter
    def budget(self, value: float):
        self.model.cities.budget[self.index] = value

    @property
    def priority(self) -> np.ndarray:
        """Issue priorities (a view: writing into it changes the model)."""
        return self.model.cities.priority[self.index]

    @property
    def practice(self) -> np.ndarray:
        return self.model.cities.practice[self.index]

    @property
    def norm(self) -> np.ndarray:
        return self.model.cities.residents_norm()[self.index]

    @property
    def practice_mean(self) -> float:
        return float(self.model.cities.practice[self.index].mean())

    @property
    def network_ids(self) -> list[int]:
        mem = self.model.memberships
        return sorted(int(k) for k in mem.net[mem.city == self.index])

    @property
    def networks(self) -> list[NetworkAgent]:
        return [self.model.network_agents[k] for k in self.network_ids]

    @property
    def memberships(self) -> int:
        return int(np.count_nonzero(self.model.memberships.city == self.index))

    def step(self):
        """Cities act through the model's array phases; stepping one agent does nothing on its own."""


class NetworkAgent(Agent):
    """An international city network: a view onto row `index` of the model's network arrays."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = int(index)

    name = property(lambda self: self.model.networks.names[self.index])
    theme = property(lambda self: self.model.issue_names[int(self.model.networks.theme[self.index])])
    rule = property(lambda self: RULES[int(self.model.networks.rule[self.index])])
    founded = property(lambda self: int(self.model.networks.founded[self.index]))
    active = property(lambda self: bool(self.model.networks.active[self.index]))
    members = property(lambda self: int(self.model.networks.members[self.index]))
    funds = property(lambda self: float(self.model.networks.funds[self.index]))
    secretariat = property(lambda self: float(self.model.networks.secretariat[self.index]))
    partner_share = property(lambda self: float(self.model.networks.partner_share[self.index]))
    misalignment = property(lambda self: float(self.model.networks.misalignment[self.index]))

    @property
    def scope(self) -> str:
        s = int(self.model.networks.scope[self.index])
        return "global" if s < 0 else self.model.region_names[s]

    @property
    def openness(self) -> float:
        return float(self.model.networks.openness[self.index])

    @openness.setter
    def openness(self, value: float):
        self.model.networks.openness[self.index] = value

    @property
    def agenda(self) -> np.ndarray:
        return self.model.networks.agenda[self.index]

    @property
    def knowledge(self) -> np.ndarray:
        return self.model.networks.knowledge[self.index]

    @property
    def member_ids(self) -> list[int]:
        mem = self.model.memberships
        return sorted(int(c) for c in mem.city[mem.net == self.index])

    def step(self):
        """Networks act through the model's array phases."""
