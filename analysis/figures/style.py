"""The shared style of every figure: colours (issues, rules, remedies and shocks, verdicts), the metric
dictionary's titles, units and labels, interventions and shocks as shaded periods on time axes, layout
helpers, and rendering (`figure_png`, `save`).

Conventions: every metric panel takes its title, y-label (the unit) and one-line meaning from the
metric dictionary (model/metric_dictionary.py); interventions and shocks are shaded periods on
time axes, labelled in a legend (`intervention_periods`); legends sit outside the data.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from model import metric_dictionary as MD
from model.interventions import REGISTRY

# Acuto and Rayner (2016): shares of 170 networks by main theme. They report no share for the other themes.
ACUTO_RAYNER = {"climate": 0.29, "poverty": 0.16, "culture": 0.11, "peace": 0.11, "gender": 0.08}
ACUTO_RAYNER_LABEL = "Acuto & Rayner (2016)"

# Key metrics of a run's figure; the first six (HEADLINE) are the headline metrics of the app's panel.
KEY_METRICS = ["fragmentation_index", "duplication_ratio", "north_south_gap", "nonmember_access",
               "high_politics_index", "funding_gini", "n_networks", "mean_memberships", "share_unaffiliated",
               "standards_per_issue", "size_gap", "agenda_misalignment"]
HEADLINE = KEY_METRICS[:6]

RULE_MARKERS = {"open": "o", "threshold": "s", "invitation": "^", "competitive": "D"}

# Issue colours: tab10 without its grey (grey is kept for markers, edges and references), then tab20's
# lighter tones without theirs.
_TAB10 = [0, 1, 2, 3, 4, 5, 6, 8, 9]
_TAB20_LIGHT = [1, 3, 5, 7, 9, 11, 13, 17, 19]


def issue_colours(issues: list[str]) -> dict[str, tuple]:
    palette = [colormaps["tab10"](j) for j in _TAB10] + [colormaps["tab20"](j) for j in _TAB20_LIGHT]
    return {nm: palette[j % len(palette)] for j, nm in enumerate(issues)}


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes (what the browser receives)."""
    buf = io.BytesIO()
    # light compression: zlib's default level costs more time than sending a larger image locally
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def save(fig: Figure, path: Path, dpi: int | None = None) -> Path:
    """Write a figure as PNG (at the figure's own dpi unless `dpi` is given; light compression: about
    half the encoding time of zlib's default for files some 10% larger)."""
    fig.savefig(path, dpi=dpi or fig.dpi, pil_kwargs={"compress_level": 1})
    return Path(path)


def metric_title(name: str) -> str:
    return MD.title(name)


def metric_unit(name: str) -> str:
    m = MD.get(name)
    return m.unit if m is not None else ""


# ---------------------------------------------------------------------------------------------
# Interventions and shocks as shaded periods on time axes


@dataclass(frozen=True)
class Period:
    """Years in which one or more interventions act (`end` None: to the end of the run)."""

    start: int
    end: int | None
    label: str
    remedy: bool

    def text(self) -> str:
        years = f"{self.start}-{self.end}" if self.end is not None and self.end != self.start else (
            f"{self.start}" if self.end is not None else f"from {self.start}")
        return f"{years}: {self.label}"


_REMEDY_COLOURS = ["#2ca25f", "#3182bd", "#66c2a4", "#6baed6", "#238b45", "#9ecae1"]
_SHOCK_COLOURS = ["#de2d26", "#fd8d3c", "#c51b8a", "#fc9272", "#e6550d", "#fa9fb5"]


def _iv_label(kind: str, params: dict) -> str:
    cls = REGISTRY.get(kind)
    label = cls.label if cls is not None and cls.label else kind
    detail = [str(params[k]) for k in ("country", "issue", "network") if params.get(k) not in (None, "")]
    return f"{label} ({', '.join(detail)})" if detail else label


def intervention_periods(interventions) -> list[Period]:
    """The shaded periods of a run: its interventions (InterventionConfig, plug-in instances with a
    `cfg`, or mappings with kind/start/end/params), those with the same years merged into one
    labelled period (a shock's colour if any of them is a shock, else a remedy's)."""
    groups: dict[tuple, list[str]] = {}
    remedy: dict[tuple, bool] = {}
    for iv in interventions or []:
        cfg = getattr(iv, "cfg", iv)
        get = cfg.get if isinstance(cfg, dict) else lambda k, d=None, c=cfg: getattr(c, k, d)
        kind, start, end, params = get("kind"), get("start"), get("end"), get("params") or {}
        cls = REGISTRY.get(kind)
        label = _iv_label(kind, params)
        key = (int(start), None if end is None else int(end))
        remedy[key] = remedy.get(key, True) and bool(cls is not None and cls.remedy)
        if label not in groups.setdefault(key, []):
            groups[key].append(label)
    keys = sorted(groups, key=lambda k: (k[0], k[1] if k[1] is not None else 10**9))
    return [Period(s, e, " + ".join(groups[(s, e)]), remedy[(s, e)]) for s, e in keys]


def _period_colours(periods: list[Period]) -> list[str]:
    out, nr, ns = [], 0, 0
    for p in periods:
        if p.remedy:
            out.append(_REMEDY_COLOURS[nr % len(_REMEDY_COLOURS)])
            nr += 1
        else:
            out.append(_SHOCK_COLOURS[ns % len(_SHOCK_COLOURS)])
            ns += 1
    return out


def mark_periods(axes, periods: list[Period], last_year: int | None, first_year: int | None = None) -> list[Patch]:
    """Shade each period on every axes in `axes` (years [start - 0.5, end + 0.5]); returns one legend
    handle per period that falls within the years shown."""
    handles = []
    for p, colour in zip(periods, _period_colours(periods)):
        if last_year is not None and p.start > last_year:
            continue  # starts after the run's last year: it never acts
        end = p.end if p.end is not None else last_year if last_year is not None else p.start
        if last_year is not None:
            end = min(end, last_year)
        lo = p.start if first_year is None else max(p.start, first_year)
        for ax in axes:
            ax.axvspan(lo - 0.5, end + 0.5, color=colour, alpha=0.13, lw=0, zorder=0)
        handles.append(Patch(facecolor=colour, alpha=0.35, edgecolor="none", label=p.text()))
    return handles


# ---------------------------------------------------------------------------------------------
# Layout helpers


def _margins(fig: Figure, top_in: float, bottom_in: float, left_in: float = 0.55, right_in: float = 0.15,
             wspace: float = 0.45, hspace_in: float | None = None, nrows: int = 1):
    """subplots_adjust with margins in inches (figure sizes vary; text sizes do not)."""
    w, h = fig.get_size_inches()
    kw = {"left": left_in / w, "right": 1 - right_in / w, "top": 1 - top_in / h, "bottom": bottom_in / h,
          "wspace": wspace}
    if hspace_in is not None and nrows > 1:
        cell = (h - top_in - bottom_in - hspace_in * (nrows - 1)) / nrows
        kw["hspace"] = hspace_in / max(cell, 0.1)
    fig.subplots_adjust(**kw)


def _legend_columns(texts: list[str], width_in: float, font: float = 6.5, most: int = 3) -> int:
    """How many legend columns fit the figure's width (labels' widths estimated from the font size)."""
    longest = max((len(t) for t in texts), default=0) * font * 0.56 / 72 + 0.45 * font / 6.5
    return max(1, min(most, int((width_in - 0.1) // max(longest, 0.1))))


def _legend_rows(n: int, ncol: int) -> int:
    return max(1, math.ceil(n / max(ncol, 1))) if n else 0



VERDICT_COLOURS = {"supported": "#1a9850", "contradicted": "#d73027", "negligible": "#4575b4",
                   "undetermined": "#666666"}


def metric_axis_label(name: str) -> str:
    """A metric's title and unit from the metric dictionary ('Size gap [capability difference (-1 to 1)]');
    a name the dictionary does not know stays as it is."""
    meta = MD.get(name)
    return f"{meta.title} [{meta.unit}]" if meta is not None else name


def metric_label(name: str) -> str:
    """`name` with each word that is a metric's name replaced by its title from the metric dictionary
    ('C3 size_gap (mechanism off)' -> 'C3 Capability gap large - small (mechanism off)')."""
    def one(word: str) -> str:
        core = word.rstrip(":,;.")
        return MD.get(core).title + word[len(core):] if core and MD.get(core) is not None else word

    return " ".join(one(w) for w in name.split(" "))
