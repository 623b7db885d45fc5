"""The browser app's live figures (analysis/server/app.py): each is drawn in full once, then after each
step only the artists that move are drawn again over the saved background ("blitting"), a few times
faster. The figures themselves are those of a run (run.py in this package).
"""

from __future__ import annotations

import io
import math
import threading
import weakref

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PIL import Image

from analysis.figures.run import (
    _city_sample,
    _city_title,
    _network_artists,
    _network_frame,
    _network_scale,
    city_positions,
    city_values,
    fig_city_map,
    fig_theme_shares,
    fig_timeseries,
    when,
    years_run,
)
from analysis.figures.style import HEADLINE, figure_png, intervention_periods
from model import metric_dictionary as MD

# ---------------------------------------------------------------------------------------------
# Live figures of the browser app: each is drawn in full once, then after each step only the
# artists that move are drawn again over the saved background ("blitting"), a few times faster.


class Blitter:
    """A figure whose still part is drawn once (the background) and whose `dynamic` artists are drawn
    over it for each PNG. `invalidate()` when the still part changed; `invalidate(ax)` when only one
    axes changed (e.g. its y limits): then only that axes is drawn again, within its own box."""

    def __init__(self, fig: Figure, dynamic: list | None = None):
        self.fig, self.dynamic = fig, list(dynamic or [])
        self.canvas = FigureCanvasAgg(fig)
        self.background = self.blank = None
        self.stale: set = set()
        self.boxes: dict = {}  # axes -> its box (display coordinates) when last drawn

    def invalidate(self, ax=None):
        if ax is None:
            self.background = None
        else:
            self.stale.add(ax)

    def _blank(self):
        """The empty figure (its face only), to wipe one axes' box before drawing it again."""
        kids = [a for a in self.fig.get_children() if a is not self.fig.patch and a.get_visible()]
        for a in kids:
            a.set_visible(False)
        self.canvas.draw()
        blank = self.canvas.copy_from_bbox(self.fig.bbox)
        for a in kids:
            a.set_visible(True)
        return blank

    def _box(self, ax, renderer):
        return ax.get_tightbbox(renderer)

    def _draw_still(self):
        for a in self.dynamic:
            a.set_visible(False)
        self.canvas.draw()
        renderer = self.canvas.get_renderer()
        self.boxes = {ax: self._box(ax, renderer) for ax in self.fig.axes}
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.stale.clear()
        for a in self.dynamic:
            a.set_visible(True)

    def _redraw_axes(self):
        if self.blank is None:
            self.blank = self._blank()
        renderer = self.canvas.get_renderer()
        self.canvas.restore_region(self.background)
        w, h = self.canvas.get_width_height(physical=True)
        hidden = [a for a in self.dynamic if getattr(a, "axes", None) in self.stale]
        for a in hidden:
            a.set_visible(False)
        for ax in self.stale:
            new = self._box(ax, renderer)
            box = Bbox.union([b for b in (self.boxes.get(ax), new) if b is not None])
            x0, y0 = max(0, math.floor(box.x0) - 2), max(0, math.floor(box.y0) - 2)
            x1, y1 = min(w, math.ceil(box.x1) + 2), min(h, math.ceil(box.y1) + 2)
            self.canvas.restore_region(self.blank, bbox=(x0, h - y1, x1, h - y0), xy=(0, 0))
            ax.draw(renderer)
            self.boxes[ax] = new
        for a in hidden:
            a.set_visible(True)
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.stale.clear()

    def png(self) -> bytes:
        if self.background is None:
            self._draw_still()
        elif self.stale:
            self._redraw_axes()
        else:
            self.canvas.restore_region(self.background)
        renderer = self.canvas.get_renderer()
        for a in self.dynamic:
            a.draw(renderer)
        w, h = self.canvas.get_width_height(physical=True)
        buf = io.BytesIO()
        Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
            buf, format="png", compress_level=1)
        return buf.getvalue()


_LIVE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {figure name: state}
_LIVE_LOCK = threading.RLock()


# PNGs of step 0 (the starting state, the same for every session of a scenario): a new browser session
# gets them at once, and its live figures are built at its first Step (which draws them in full anyway).
_STEP0: dict = {}


def _step0_png(model, name: str, make, *key) -> bytes | None:
    """The cached PNG of a model at step 0 without live state yet (None otherwise); `make()` draws it."""
    if model.steps or name in _LIVE.get(model, {}):
        return None
    k = (name, model.cfg.model_dump_json(), repr(intervention_periods(model.interventions)), repr(key))
    if k not in _STEP0:
        if len(_STEP0) > 64:
            _STEP0.clear()
        _STEP0[k] = make()
    return _STEP0[k]


def _fit_ylim(ax, y: np.ndarray, tight: bool = False, bounds=None) -> bool:
    """Widen the y limits when the data leave them, with room to spare (half the data's span, or a
    fifth of their size) but not far past the metric's possible range (`bounds`: a dictionary entry);
    or (`tight`) set them around the data. True when they changed."""
    y = y[np.isfinite(y)]
    if not len(y):
        return False
    lo, hi = ax.get_ylim()
    ymin, ymax = float(y.min()), float(y.max())
    span = max(ymax - ymin, abs(ymax) * 0.05, 1e-6)
    if tight:
        new_lo, new_hi = ymin - 0.25 * span, ymax + 0.25 * span
    else:
        edge = 0.02 * (hi - lo)
        near_lo, near_hi = ymin < lo + edge, ymax > hi - edge
        if not (near_lo or near_hi):
            return False  # inside, clear of the edges
        pad = max(0.5 * span, 0.2 * max(abs(ymin), abs(ymax)))
        new_lo, new_hi = (ymin - pad if near_lo else lo), (ymax + pad if near_hi else hi)
    margin = 0.03 * (new_hi - new_lo)
    if bounds is not None and bounds.low is not None:
        new_lo = max(new_lo, bounds.low - margin)
    if bounds is not None and bounds.high is not None:
        new_hi = min(new_hi, bounds.high + margin)
    ax.set_ylim(new_lo, new_hi)
    return True


def _timeseries_state(model, **kw) -> dict:
    ts = years_run(model.timeseries())
    years = (model.cfg.start_year, model.cfg.end_year)
    periods = intervention_periods(model.interventions)
    live = _LIVE.setdefault(model, {})
    st = live.get("timeseries")
    if st is None or st["periods"] != periods or st.get("kw") != kw:
        fig = fig_timeseries(ts, years=years, periods=periods, **kw)
        lines = [(ax, col, ax.lines[0], ax.lines[1]) for ax, col in zip(fig.axes, HEADLINE)]
        st = live["timeseries"] = {"fig": fig, "periods": periods, "kw": kw, "lines": lines, "fitted": len(ts) >= 1,
                                   "blit": Blitter(fig, [a for _, _, ln, dot in lines for a in (ln, dot)])}
        for ax, col, _, _ in lines:
            if len(ts):  # built after the first step (the step-0 image is shared): limits around the data
                _fit_ylim(ax, ts[col].to_numpy(dtype=float), tight=True, bounds=MD.describe(col))
            ax.set_autoscaley_on(False)
        return st
    x = ts["year"].to_numpy()
    changed = False
    if len(ts) >= 1 and not st["fitted"]:  # the first step: drop the hint, fit every axis to the data
        for t in [t for ax in st["fig"].axes for t in ax.texts if t.get_gid() == "hint"]:
            t.remove()
        st["fitted"] = changed = first = True
    else:
        first = False
    for ax, col, line, dot in st["lines"]:
        y = ts[col].to_numpy(dtype=float)
        line.set_data(x, y)
        dot.set_data(x[-1:], y[-1:])
        if _fit_ylim(ax, y, tight=first, bounds=MD.describe(col)):
            st["blit"].invalidate(ax)
    if changed:
        st["blit"].invalidate()
    return st


def fig_timeseries_live(model, **kw) -> Figure:
    """`fig_timeseries` of a running model over its whole span of years, with its interventions
    shaded, kept from step to step: later calls only move the lines (and widen the y limits when
    the data leave them); a new intervention draws the figure again."""
    with _LIVE_LOCK:
        return _timeseries_state(model, **kw)["fig"]


def timeseries_png_live(model, **kw) -> bytes:
    """PNG of `fig_timeseries_live` (`kw`: fig_timeseries' layout: ncols, figsize, font), blitted: only the
    lines are drawn again after a step."""
    with _LIVE_LOCK:
        first = _step0_png(model, "timeseries", lambda: figure_png(fig_timeseries(
            years_run(model.timeseries()), years=(model.cfg.start_year, model.cfg.end_year),
            periods=intervention_periods(model.interventions), **kw)), kw)
        return first if first is not None else _timeseries_state(model, **kw)["blit"].png()


def network_png_live(model, max_nodes: int = 60, figsize=(6.4, 4.6), dpi: int = 90, labels: int = 12) -> bytes:
    """PNG of `fig_network` for a running model: legends and frame drawn once (again when the size
    scale changes), the graph of this step drawn over them."""
    with _LIVE_LOCK:
        live = _LIVE.setdefault(model, {})
        scale = _network_scale(model)
        st = live.get("network")
        if st is None or st["scale"] != scale or st["size"] != (figsize, dpi):
            fig, ax = _network_frame(model, figsize, dpi, scale)
            st = live["network"] = {"fig": fig, "ax": ax, "scale": scale, "size": (figsize, dpi),
                                    "blit": Blitter(fig)}
        for a in st["blit"].dynamic:
            a.remove()
        st["blit"].dynamic = _network_artists(model, st["fig"], st["ax"], max_nodes, scale, labels)
        return st["blit"].png()


def city_png_live(model, colour_by: str = "memberships", **kw) -> bytes:
    """PNG of `fig_city_map` for a running model: map, labels and colour bar drawn once (again when
    the top of the colour scale changes), the cities' colours and the title drawn over them."""
    with _LIVE_LOCK:
        live = _LIVE.setdefault(model, {})
        val, top, _, label = city_values(model, colour_by)
        key = f"cities-{colour_by}"
        first = _step0_png(model, key, lambda: figure_png(fig_city_map(model, colour_by, top=top, **kw)), kw)
        if first is not None:
            return first
        st = live.get(key)
        if st is None or st["top"] != top:
            fig = fig_city_map(model, colour_by, top=top, **kw)
            sc, title = fig.axes[0].collections[0], fig._suptitle
            st = live[key] = {"fig": fig, "top": top, "scatter": sc, "title": title,
                              "order": _city_sample(model, kw.get("max_points", 8000)), "blit": Blitter(fig, [sc, title])}
        else:
            st["scatter"].set_array(val[st["order"]])
            st["title"].set_text(_city_title(model, city_positions(model)[1], label, len(st["order"])))
        return st["blit"].png()


def theme_png_live(model, shares: dict[str, float], figsize=(6.4, 3.6)) -> bytes:
    """PNG of `fig_theme_shares` for a running model: axes, reference bars and legend drawn once (again
    when a share passes the top of the axis), the model's bars and the title drawn over them."""
    with _LIVE_LOCK:
        live = _LIVE.setdefault(model, {})
        first = _step0_png(model, "themes", lambda: figure_png(fig_theme_shares(
            shares, None, labels=("model",), title=f"Theme shares, {when(model)}, vs Acuto & Rayner", figsize=figsize)),
            figsize, tuple(shares.values()))
        if first is not None:
            return first
        st = live.get("themes")
        title = f"Theme shares, {when(model)}, vs Acuto & Rayner"
        if st is None or max(shares.values(), default=0.0) > st["top"] or st["size"] != figsize:
            fig = fig_theme_shares(shares, None, labels=("model",), title=title, figsize=figsize)
            ax = fig.axes[0]
            bars = next(c for c in ax.containers if c.get_label() == "model")
            st = live["themes"] = {"fig": fig, "bars": bars, "top": ax.get_ylim()[1], "size": figsize,
                                   "blit": Blitter(fig, list(bars.patches) + [fig._suptitle])}
        else:
            for b, i in zip(st["bars"].patches, shares):
                b.set_height(shares[i])
            st["fig"]._suptitle.set_text(title)
        return st["blit"].png()
