"""The metric dictionary: what each metric of `model.metrics.metric_names` means, its unit, its range
and the section of docs/ODD.md that defines it.

One entry per metric; the per-issue families (`theme_share_<issue>`, `funding_share_<issue>`,
`national_stance_<issue>`) are one templated entry each, expanded for a scenario's issues by
`for_issues`. This is the one source of the words that explain a metric: `run` writes it as
`metrics.csv`, the figures take their y-labels from it, the browser app its captions and the sweep
summary the ranges that bound its intervals. Written from the formulas of model/metrics.py and
docs/ODD.md section 9; when a formula changes, change its entry here (tests/test_metric_dictionary.py
checks that the dictionary covers exactly the metric names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

ISSUE = "<issue>"  # the placeholder of per-issue families


@dataclass(frozen=True)
class Metric:
    """One metric: `name` (with `<issue>` in a family's template), a short `title`, a one-line
    `meaning`, its `unit`, its possible range (`low`, `high`; None: unbounded on that side) and the
    section of docs/ODD.md that defines it."""

    name: str
    title: str
    meaning: str
    unit: str
    low: float | None
    high: float | None
    odd: str = "9"

    def clip(self, value: float) -> float:
        """`value` brought into the metric's possible range (NaN stays NaN)."""
        if math.isnan(value):
            return value
        if self.low is not None and value < self.low:
            return float(self.low)
        if self.high is not None and value > self.high:
            return float(self.high)
        return float(value)

    def for_issue(self, issue: str) -> Metric:
        return replace(self, name=self.name.replace(ISSUE, issue), title=self.title.replace(ISSUE, issue),
                       meaning=self.meaning.replace(ISSUE, issue))


# In the order of model.metrics.metric_names. Each entry is one call, so that a metric's words can be
# edited in one place; the formulas and the reasons why no metric is tied to one lever are in
# docs/ODD.md section 9. "Operating" networks are active (not dissolved) and have members.
ENTRIES: list[Metric] = [
    Metric("n_networks", "Operating networks",
           "Number of operating networks (active, with at least one member).", "networks", 0, None),
    Metric("n_memberships", "Memberships", "Number of (city, network) memberships.", "memberships", 0, None),
    Metric("mean_memberships", "Memberships per city", "Memberships divided by the number of cities.",
           "memberships per city", 0, None),
    Metric("share_unaffiliated", "Cities in no network", "Share of cities that belong to no network.",
           "share of cities (0-1)", 0, 1),
    Metric("theme_share_<issue>", "Theme share: <issue>",
           "Share of operating networks whose primary theme is <issue>.", "share of operating networks (0-1)", 0, 1),
    Metric("funding_share_<issue>", "Funding share: <issue>",
           "Share of grants going to <issue>, each network's grants split by its agenda weights.",
           "share of grants (0-1)", 0, 1),
    Metric("funding_hhi", "Funding concentration (HHI)",
           "Herfindahl index of the funding shares across issues (1: all grants on one issue).",
           "index (1/issues to 1)", 0, 1),
    Metric("funding_gini", "Funding Gini across networks",
           "Gini coefficient of income (grants + fees) across operating networks.", "Gini (0-1)", 0, 1),
    Metric("neglect_index", "Neglect index",
           "Demand (cities' mean priority) not matched by funding shares, summed over issues; 1 without grants.",
           "share of demand (0-1)", 0, 1),
    Metric("fragmentation_index", "Fragmentation index",
           "Dispersion (1 - sum of squared shares) of the solution standards cities actually practise, per "
           "issue, weighted by practice; practice-weighted mean over issues.", "index (0-1)", 0, 1),
    Metric("duplication_ratio", "Duplication ratio",
           "Share of this year's knowledge spending that re-created knowledge another operating network active "
           "on the same issue already held (after this year's transfers).", "share of spending (0-1)", 0, 1),
    Metric("standards_per_issue", "Standards per issue",
           "Effective number of solution standards cities practise per issue (practice-weighted inverse "
           "Herfindahl; 0 before any city practises one).", "standards", 0, None),
    Metric("mean_capacity", "Mean capability",
           "Mean capability of cities (practice averaged over low-politics issues).", "practice level (0-1)", 0, 1),
    Metric("gini_capacity", "Capability Gini", "Gini coefficient of capability across cities.", "Gini (0-1)", 0, 1),
    Metric("north_south_gap", "North - South capability gap",
           "Mean capability of Global North cities minus that of Global South cities.",
           "practice difference (-1 to 1)", -1, 1),
    Metric("size_gap", "Capability gap large - small",
           "Mean capability of the largest 10% of cities minus that of the smallest half.",
           "practice difference (-1 to 1)", -1, 1),
    Metric("nonmember_access", "Non-member access (1 = no gap)",
           "This year's practice growth of cities outside closed (invitation and competitive) networks relative "
           "to members', among comparable cities (population quintile x region), on those networks' issues; "
           "NaN without a closed network.", "ratio of growth (1 = no gap)", 0, None),
    Metric("small_city_growth", "Growth of small cities",
           "This year's mean practice gain (low-politics issues, from every source) of the smallest half of cities "
           "by population.", "practice gain per year x 1000", 0, None),
    Metric("national_stance_<issue>", "National stance: <issue>",
           "Mean national stance on <issue> over countries that have cities.", "stance (0-1)", 0, 1),
    Metric("resident_norm_mean", "Residents' norms", "Mean residents' norm over all cities and issues.",
           "norm level (0-1)", 0, 1),
    Metric("high_politics_index", "High-politics index",
           "Mean national stance on high-politics issues over countries that have cities.", "stance (0-1)", 0, 1),
    Metric("high_politics_activity", "Network activity on high politics",
           "Share of this year's programme spending of operating networks that goes to high-politics issues "
           "(each network's programme split over issues by its agenda); 0 if nothing is spent.",
           "share of programme spending (0-1)", 0, 1),
    Metric("efficiency", "Efficiency",
           "Practice gained this year through networks (member learning and openly shared knowledge, not cities' "
           "own innovation) per city x 1000, per million USD of network money (grants + fees + the IO framework's "
           "overhead).",
           "practice x 1000 per M USD", 0, None),
    Metric("churn_rate", "Churn rate",
           "Memberships that ended this year per membership at the start of the membership phase.",
           "share of memberships (0-1)", 0, 1),
    Metric("agenda_misalignment", "Agenda misalignment",
           "Members' mean distance between their network's agenda and their own priorities (what members feel).",
           "distance (0-1)", 0, 1),
    Metric("partnered_share", "Networks with partners",
           "Share of operating networks with non-governmental partners.", "share of operating networks (0-1)", 0, 1),
    Metric("participation_small_large", "Participation: small / large cities",
           "Mean memberships of the smallest half of cities divided by that of the largest 10% (who is left out).",
           "ratio", 0, None),
    Metric("participation_south_north", "Participation: South / North",
           "Mean memberships of Global South cities divided by that of Global North cities.", "ratio", 0, None),
    Metric("exclusion_small_large", "Exclusion: small minus large cities",
           "Among cities in a network at the end of the reference year (membership.reference_year), the share of the "
           "smallest half now in none minus that share of the largest 10% (who is left out, not how many memberships).",
           "difference of shares (-1 to 1)", -1, 1),
    Metric("exclusion_south_north", "Exclusion: South minus North",
           "Among cities in a network at the end of the reference year, the share of Global South cities now in none "
           "minus that share of Global North cities.", "difference of shares (-1 to 1)", -1, 1),
    Metric("ever_excluded_small_large", "Excluded at some point: small minus large",
           "Among cities in a network at the end of the reference year, the share of the smallest half that have been "
           "in none at the end of some year since, minus that share of the largest 10% (cumulative: who was left out first).",
           "difference of shares (-1 to 1)", -1, 1),
]

BY_NAME: dict[str, Metric] = {m.name: m for m in ENTRIES}
FAMILIES: dict[str, Metric] = {m.name.removesuffix(ISSUE): m for m in ENTRIES if m.name.endswith(ISSUE)}


def describe(name: str) -> Metric:
    """The entry of one metric column (`theme_share_climate` expands its family). KeyError if unknown."""
    if name in BY_NAME:
        return BY_NAME[name]
    for prefix, m in FAMILIES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return m.for_issue(name[len(prefix):])
    raise KeyError(f"no metric named {name!r} in model/metric_dictionary.py")


def get(name: str) -> Metric | None:
    """`describe`, or None for a column that is not a metric (e.g. `step`)."""
    try:
        return describe(name)
    except KeyError:
        return None


def for_issues(issue_names: list[str]) -> list[Metric]:
    """Every metric of a scenario with these issues, in the order of `model.metrics.metric_names`."""
    from model.metrics import metric_names

    return [describe(n) for n in metric_names(list(issue_names))]


def table(issue_names: list[str]) -> pd.DataFrame:
    """The dictionary as a table (metrics.csv): name, title, meaning, unit, low, high, odd_section."""
    rows = [{"name": m.name, "title": m.title, "meaning": m.meaning, "unit": m.unit, "low": m.low, "high": m.high,
             "odd_section": m.odd} for m in for_issues(issue_names)]
    return pd.DataFrame(rows, columns=["name", "title", "meaning", "unit", "low", "high", "odd_section"])


def title(name: str) -> str:
    """A metric's short title (the column name for anything else)."""
    m = get(name)
    return m.title if m is not None else name
