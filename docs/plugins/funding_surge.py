"""An intervention of your own, loaded with `--plugin docs/plugins/funding_surge.py` (docs/plugins.md).

While it runs, every funder gives more: a donors' pledge. A scenario names it by its kind:

    interventions:
      - kind: funding_surge
        start: 1995
        end: 2004
        params: {share: 0.5}
"""

from pydantic import Field

from model.interventions import Intervention, Params, register
from model.resources import update_funder_budgets


@register
class FundingSurge(Intervention):
    """Every funder's budget grows by `share` while it runs (and shrinks back when it ends). Lever:
    `levers.funder_factor` (phases 1 and 4, the funders' budgets)."""

    kind = "funding_surge"  # what scenario files write; must differ from every built-in kind
    label = "Funding surge"

    class Params(Params):  # strict, as every section: unknown keys and wrong types are errors
        share: float = Field(0.5, ge=0, le=5, description="Extra share of every funder's budget while active.")

    def begin(self, model):
        model.levers.funder_factor *= 1 + self.p.share
        update_funder_budgets(model)

    def finish(self, model):
        model.levers.funder_factor /= 1 + self.p.share
        update_funder_budgets(model)
