"""The figure layer, one module per consumer on a shared style:

    style.py        colours (issues, rules, remedies and shocks, verdicts), the metric dictionary's titles,
                    units and labels (metric_label), shaded intervention periods, layout helpers, figure_png, save
    run.py          the figures of one run (run_figures: network ecosystem, cities, metrics over time, theme shares)
    live.py         the browser app's live figures, blitted after each step
    calibration.py  the calibration report's figures
    sweep.py        the grid figure of a sweep
    claims.py       the claims lab's figures (report, the app's Claims page)

Each `fig_*` function returns a `matplotlib.figure.Figure` built without pyplot (thread-safe in a
server, usable in a notebook); `figure_png` renders one to PNG bytes and `save` writes one to a file.
Every name is re-exported here: `from analysis import figures as F; F.fig_network(...)`.
"""

from analysis.figures.calibration import (
    fig_network_count,
    fig_theme_calibration,
)
from analysis.figures.claims import (
    fig_claim_conditions,
    fig_claim_gradient,
    fig_claim_over_time,
    fig_claim_uncertainty,
    fig_claims_forest,
)
from analysis.figures.live import (
    _LIVE as _LIVE,
)
from analysis.figures.live import (
    Blitter,
    city_png_live,
    fig_timeseries_live,
    network_png_live,
    theme_png_live,
    timeseries_png_live,
)
from analysis.figures.run import (
    _CITY_XY as _CITY_XY,
)
from analysis.figures.run import (
    EDGES_PER_NODE,
    ISOLATE_ROW,
    REGION_CENTRES,
    SIDE_COLOURS,
    SIDE_STYLES,
    active_networks,
    city_positions,
    city_values,
    country_hulls,
    fig_city_map,
    fig_compare,
    fig_network,
    fig_shares_over_time,
    fig_theme_shares,
    fig_timeseries,
    network_graph,
    network_layout,
    run_figures,
    short_name,
    strongest_edges,
    when,
    years_run,
)
from analysis.figures.style import (
    ACUTO_RAYNER,
    ACUTO_RAYNER_LABEL,
    HEADLINE,
    KEY_METRICS,
    RULE_MARKERS,
    VERDICT_COLOURS,
    Period,
    figure_png,
    intervention_periods,
    issue_colours,
    mark_periods,
    metric_axis_label,
    metric_label,
    metric_title,
    metric_unit,
    save,
)
from analysis.figures.sweep import (
    fig_sweep_grid,
)

__all__ = [
    "ACUTO_RAYNER",
    "ACUTO_RAYNER_LABEL",
    "EDGES_PER_NODE",
    "HEADLINE",
    "ISOLATE_ROW",
    "KEY_METRICS",
    "REGION_CENTRES",
    "RULE_MARKERS",
    "SIDE_COLOURS",
    "SIDE_STYLES",
    "VERDICT_COLOURS",
    "Blitter",
    "Period",
    "active_networks",
    "city_png_live",
    "city_positions",
    "city_values",
    "country_hulls",
    "fig_city_map",
    "fig_claim_conditions",
    "fig_claim_gradient",
    "fig_claim_over_time",
    "fig_claim_uncertainty",
    "fig_claims_forest",
    "fig_compare",
    "fig_network",
    "fig_network_count",
    "fig_shares_over_time",
    "fig_sweep_grid",
    "fig_theme_calibration",
    "fig_theme_shares",
    "fig_timeseries",
    "fig_timeseries_live",
    "figure_png",
    "intervention_periods",
    "issue_colours",
    "mark_periods",
    "metric_axis_label",
    "metric_label",
    "metric_title",
    "metric_unit",
    "network_graph",
    "network_layout",
    "network_png_live",
    "run_figures",
    "save",
    "short_name",
    "strongest_edges",
    "theme_png_live",
    "timeseries_png_live",
    "when",
    "years_run",
]
