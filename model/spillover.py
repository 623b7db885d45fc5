"""Phase 7: spillover from the middle: down to residents, up to national governments.

Engagement of city c on issue i: E_ci = min(1, sum over its networks k of engagement_k x A_ki) (a
declaration engages a city less than a programme network).

Down (switchable):
    norm_ci += down_rate x E_ci x (1 - norm_ci)
    norm_ch += cobenefit x min(1, sum_i w_i E_ci) x (1 - norm_ch)          for high-politics h
    norm_ci += norm_decay x (norm0_ci - norm_ci)
with w_i the issue's `cobenefit` weight (people-to-people cooperation such as culture builds the
cooperative norm more than technical cooperation). City priorities respond to norm changes, not
levels:
    P_ci <- P_ci x max(0, 1 + priority_feedback x (norm_ci after - norm_ci before)), renormalised.

Up (switchable): for country s and issue i, with population weights,
    signal_si = mean_c(x_ci) + advocacy x mean_c(E_ci),  x = practice (low politics) or norm (high)
    thr_i = up_threshold_practice (low politics) or up_threshold_norm (high politics)
    stance_si += up_rate x (1 - resistance_i) x (signal - thr)/(1 - thr) x (1 - stance)   if signal > thr
    stance_si -= reversal x stance_si x (thr - signal)/thr                                otherwise
with resistance_i = high_politics_resistance on high-politics issues (states keep control there), 0
otherwise; and on high-politics issues a sovereignty backlash against cities' activism,
    stance_sh -= backlash x voice_sh x stance_sh,     voice = population-weighted mean_c(E_ch),
so that networks engaging cities on high politics can also provoke the centre (the sign of their
effect on national stances is an outcome). Stances locked by a national withdrawal stay at 0 while the withdrawal lasts.
National uptake (part of the up channel): national adoption diffuses back to every city of the
country, members or not, on low-politics issues:
    p_ci += national_uptake x max(0, stance_si - p_ci)
The horizontal channel is in `knowledge.py` (flows between networks).
"""

from __future__ import annotations

import numpy as np

from model.state import row_sums


def engagement(model) -> np.ndarray:
    """(cities x issues) engagement: sum of engagement x agenda weights of the city's networks, capped at 1."""
    c, mem, nets = model.cities, model.memberships, model.networks
    if len(mem) == 0:
        return np.zeros((c.n, model.n_issues))
    n = nets.n
    weighted = nets.agenda[:n] * nets.engagement[:n, None]
    return np.minimum(1.0, np.asarray(mem.matrix(c.n, n) @ weighted))


def down(model, E: np.ndarray):
    """Residents' norms, the co-benefit on high politics, norm decay and priority feedback (module docstring)."""
    cfg, c = model.cfg.spillover, model.cities
    norm = c.norm
    before = norm.copy()
    norm += cfg.down_rate * E * (1 - norm)
    w = np.array([i.cobenefit for i in model.cfg.issues], dtype=float)
    co = cfg.cobenefit * np.minimum(1.0, E @ w)
    norm[:, model.high] += co[:, None] * (1 - norm[:, model.high])
    norm += cfg.norm_decay * (c.norm0 - norm)
    np.clip(norm, 0.0, 1.0, out=norm)
    before -= norm
    before *= -cfg.priority_feedback  # priority_feedback x change of norm
    before += 1.0
    np.maximum(before, 0.0, out=before)
    c.priority *= before
    c.priority /= np.maximum(row_sums(c.priority), 1e-300)[:, None]


def thresholds(model) -> np.ndarray:
    """(issues,) the signal a country's cities must pass: practice threshold on low politics, norm
    threshold on high politics."""
    cfg = model.cfg.spillover
    return np.where(model.high, cfg.up_threshold_norm, cfg.up_threshold_practice)


def signals(model, E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(countries x issues) upward signal, cities' voice (population-weighted engagement) and whether
    the country has cities."""
    cfg, c, co = model.cfg.spillover, model.cities, model.countries
    x = np.where(model.high[None, :], c.norm, c.practice)
    W = co.population_weights(c)  # country x city, population weights
    wsum = np.maximum(np.asarray(W.sum(axis=1)).ravel(), 1e-12)
    level = np.asarray(W @ x) / wsum[:, None]
    voice = np.asarray(W @ E) / wsum[:, None]
    return level + cfg.advocacy * voice, voice, wsum > 1e-12


def up(model, E: np.ndarray):
    """National stances from the population-weighted signal, and national uptake (module docstring)."""
    cfg, c, co = model.cfg.spillover, model.cities, model.countries
    signal, voice, has_city = signals(model, E)
    thr = thresholds(model)[None, :]
    s = co.stance
    old = s.copy()
    above = signal > thr
    resist = np.where(model.high, 1 - cfg.high_politics_resistance, 1.0)[None, :]
    rise = cfg.up_rate * resist * (signal - thr) / np.maximum(1 - thr, 1e-9) * (1 - s)
    fall = cfg.reversal * s * (thr - signal) / np.maximum(thr, 1e-9)
    backlash = cfg.backlash * voice * old * model.high[None, :]  # states guard high politics
    s += np.where(above, rise, -fall) - backlash
    s[~has_city] = old[~has_city]  # countries without cities keep their stance
    s[co.locked] = 0.0
    np.clip(s, 0.0, 1.0, out=s)
    delta = np.take(s, c.country, axis=0)
    delta -= c.practice
    np.maximum(delta, 0.0, out=delta)
    delta[:, model.high] = 0.0  # national uptake acts on low-politics issues only
    delta *= cfg.national_uptake
    np.minimum(delta, 1.0 - c.practice, out=delta)
    c.practice += delta
    model.gains = model.gains + delta


def spillover_phase(model):
    """Down, then up (each switchable); a stance locked by a withdrawal stays at 0 either way."""
    E = engagement(model)
    if model.cfg.spillover.down:
        down(model, E)
    if model.cfg.spillover.up:
        up(model, E)
    else:
        model.countries.stance[model.countries.locked] = 0.0
