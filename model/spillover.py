"""Phase 7: spillover from the middle: down to residents, up to national governments.

Engagement of city c on issue i: E_ci = min(1, sum over its networks k of A_ki).
Down (switchable):
    norm_ci += down_rate x E_ci x (1 - norm_ci)
    norm_ci += cobenefit x min(1, memberships_c / 3) x (1 - norm_ci)      for high-politics i
    norm_ci += norm_decay x (norm0_ci - norm_ci)
    P_c <- (1 - priority_feedback) P_c + priority_feedback x norm_c / sum(norm_c)
Up (switchable): for country s and issue i, with population weights,
    signal_si = mean_c(x_ci) + advocacy x mean_c(E_ci),  x = practice (low politics) or norm (high)
    stance_si += up_rate x (signal - thr)/(1 - thr) x (1 - stance)    if signal > thr
    stance_si -= reversal x stance_si x (thr - signal)/thr             otherwise
Stances locked by a national withdrawal stay at 0 while the withdrawal lasts.
National uptake (part of the up channel): national adoption diffuses back to every city of the
country, members or not, on low-politics issues:
    p_ci += national_uptake x max(0, stance_si - p_ci)
The horizontal channel is in `knowledge.py` (flows between networks).
"""

from __future__ import annotations

import numpy as np

from model.state import row_sums


def engagement(model) -> np.ndarray:
    """(cities x issues) engagement: sum of agenda weights of the city's networks, capped at 1."""
    c, mem, nets = model.cities, model.memberships, model.networks
    if len(mem) == 0:
        return np.zeros((c.n, model.n_issues))
    return np.minimum(1.0, np.asarray(mem.matrix(c.n, nets.n) @ nets.agenda[: nets.n]))


def down(model, E: np.ndarray):
    """Residents' norms, the co-benefit on high politics, norm decay and priority feedback (module docstring)."""
    cfg, c = model.cfg.spillover, model.cities
    norm = c.norm
    norm += cfg.down_rate * E * (1 - norm)
    nmem = model.memberships.per_city(c.n)
    co = cfg.cobenefit * np.minimum(1.0, nmem / 3.0)
    norm[:, model.high] += co[:, None] * (1 - norm[:, model.high])
    norm += cfg.norm_decay * (c.norm0 - norm)
    np.clip(norm, 0.0, 1.0, out=norm)
    target = norm / row_sums(norm)[:, None]
    c.priority *= 1 - cfg.priority_feedback
    c.priority += cfg.priority_feedback * target
    c.priority /= row_sums(c.priority)[:, None]


def up(model, E: np.ndarray):
    """National stances from the population-weighted signal, and national uptake (module docstring)."""
    cfg, c, co = model.cfg.spillover, model.cities, model.countries
    x = np.where(model.high[None, :], c.norm, c.practice)
    W = co.population_weights(c)  # country x city, population weights
    wsum = np.maximum(np.asarray(W.sum(axis=1)).ravel(), 1e-12)
    level = np.asarray(W @ x) / wsum[:, None]
    voice = np.asarray(W @ E) / wsum[:, None]
    signal = level + cfg.advocacy * voice
    thr = cfg.up_threshold
    s = co.stance
    old = s.copy()
    above = signal > thr
    rise = cfg.up_rate * (signal - thr) / max(1 - thr, 1e-9) * (1 - s)
    fall = cfg.reversal * s * (thr - signal) / max(thr, 1e-9)
    s += np.where(above, rise, -fall)
    has_city = wsum > 1e-12
    s[~has_city] = old[~has_city]  # countries without cities keep their stance
    s[co.locked] = 0.0
    np.clip(s, 0.0, 1.0, out=s)
    delta = np.take(s, c.country, axis=0)
    delta -= c.practice
    np.maximum(delta, 0.0, out=delta)
    delta[:, model.high] = 0.0  # national uptake acts on low-politics issues only
    delta *= cfg.national_uptake
    c.practice += delta


def spillover_phase(model):
    """Down, then up (each switchable); a stance locked by a withdrawal stays at 0 either way."""
    E = engagement(model)
    if model.cfg.spillover.down:
        down(model, E)
    if model.cfg.spillover.up:
        up(model, E)
    else:
        model.countries.stance[model.countries.locked] = 0.0
