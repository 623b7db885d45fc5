"""Phase 7: spillover from the middle: down to residents, up to national governments.

Engagement of city c on issue i: E_ci = min(1, sum over its networks k of engagement_k x A_ki) (a
declaration engages a city less than a programme network).

Residents' own dynamics (every world, networks or not; not switched by `down`): each year a world
event per issue and a national event per country and issue, normal shocks from their own stream,
accumulate in a shift that decays like the norms,
    shift_ci <- (1 - norm_decay) x shift_ci + eps_world_i + eps_national_(country c) i,
    eps ~ N(0, norm_event_world^2), N(0, norm_event_national^2),
and residents' norms as they stand are clip(norm_ci + shift_ci, 0, 1) (`Cities.residents_norm`): what the
up channel reads on high politics and the metrics report. `norm` below is the lasting norm that the down
channel builds and that priorities follow: events move what residents think, and so national stances,
not cities' priorities (nor, through them, networks).

Down (switchable):
    norm_ci += down_rate x E_ci x (1 - norm_ci)
    norm_ch += cobenefit x min(1, sum_i w_i E_ci) x (1 - norm_ch)          for high-politics h
    norm_ci += norm_decay x (norm0_ci - norm_ci)
with w_i the issue's `cobenefit` weight (people-to-people cooperation such as culture builds the
cooperative norm more than technical cooperation). City priorities respond to norm changes, not
levels:
    P_ci <- P_ci x max(0, 1 + priority_feedback x (norm_ci after - norm_ci before)), renormalised.

Up (switchable): for country s and issue i, with population weights,
    signal_si = mean_c(x_ci) + advocacy x mean_c(E_ci),  x = practice (low politics) or norm + shift (high, clipped)
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

from model.compiled import jit


def engagement(model) -> np.ndarray:
    """(cities x issues) engagement: sum of engagement x agenda weights of the city's networks, capped at 1."""
    c, mem, nets = model.cities, model.memberships, model.networks
    if len(mem) == 0:
        return np.zeros((c.n, model.n_issues))
    o = mem.by_city(c.n)  # memberships in city order
    E = np.empty((c.n, model.n_issues))
    _engagement(o.indptr, o.net, nets.agenda, nets.engagement, E)
    return E


@jit
def _engagement(indptr, net, A, eng, E):
    """E_ci = min(1, sum over c's memberships k of eng_k x A_ki) (memberships in city order)."""
    N, I = E.shape
    x = np.empty(I)
    for ci in range(N):
        x[:] = 0.0
        for e in range(indptr[ci], indptr[ci + 1]):
            k = net[e]
            for i in range(I):
                x[i] += A[k, i] * eng[k]
        for i in range(I):
            E[ci, i] = min(1.0, x[i])


def norm_events(model):
    """Residents' norms' own dynamics: this year's world and national events added to the decaying shift
    (module docstring), from the `norms` stream: I standard normals (world), then countries x I
    (national), drawn whatever the scales."""
    cfg, c = model.cfg.spillover, model.cities
    if cfg.norm_event_world <= 0 and cfg.norm_event_national <= 0:
        return
    if c.norm_shift is None:
        c.norm_shift = np.zeros_like(c.norm)
    rng = model.streams.rng("norms", model.year)
    world = rng.standard_normal(model.n_issues) * cfg.norm_event_world
    national = rng.standard_normal((model.countries.n, model.n_issues)) * cfg.norm_event_national
    _add_events(c.norm_shift, float(cfg.norm_decay), world, national, c.country)


@jit
def _add_events(shift, decay, world, national, country):
    """shift_ci <- shift_ci x (1 - decay) + (world_i + national_(country c) i), city by city."""
    N, I = shift.shape
    for ci in range(N):
        s = country[ci]
        for i in range(I):
            shift[ci, i] = shift[ci, i] * (1.0 - decay) + (world[i] + national[s, i])


def down(model, E: np.ndarray):
    """Residents' norms, the co-benefit on high politics, norm decay and priority feedback (module docstring)."""
    cfg, c = model.cfg.spillover, model.cities
    w = np.array([i.cobenefit for i in model.cfg.issues], dtype=float)
    _down(c.norm, c.norm0, c.priority, E, w, np.asarray(model.high, dtype=np.bool_), float(cfg.down_rate),
          float(cfg.cobenefit), float(cfg.norm_decay), float(cfg.priority_feedback))


@jit
def _down(norm, norm0, P, E, w, high, down_rate, cobenefit, decay, feedback):
    """City by city: norms, the co-benefit on high politics, decay, and priorities from norm changes."""
    N, I = norm.shape
    for ci in range(N):
        x = 0.0
        for i in range(I):
            x += E[ci, i] * w[i]
        co = cobenefit * min(1.0, x)
        total = 0.0
        for i in range(I):
            before = norm[ci, i]
            v = before + down_rate * E[ci, i] * (1.0 - before)
            if high[i]:
                v += co * (1.0 - v)
            v += decay * (norm0[ci, i] - v)
            v = min(max(v, 0.0), 1.0)
            norm[ci, i] = v
            P[ci, i] *= max(1.0 + feedback * (v - before), 0.0)  # priority_feedback x change of norm
            total += P[ci, i]
        total = max(total, 1e-300)
        for i in range(I):
            P[ci, i] /= total


def thresholds(model) -> np.ndarray:
    """(issues,) the signal a country's cities must pass: practice threshold on low politics, norm
    threshold on high politics."""
    cfg = model.cfg.spillover
    return np.where(model.high, cfg.up_threshold_norm, cfg.up_threshold_practice)


def signals(model, E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(countries x issues) upward signal, cities' voice (population-weighted engagement) and whether
    the country has cities."""
    cfg, c, co = model.cfg.spillover, model.cities, model.countries
    C, I = co.n, model.n_issues
    level, voice, wsum = np.zeros((C, I)), np.zeros((C, I)), np.zeros(C)
    shift = c.norm_shift if c.norm_shift is not None else np.zeros((0, 0))
    _country_means(c.country, c.population, c.norm, shift, c.practice, E, np.asarray(model.high, dtype=np.bool_),
                   level, voice, wsum)
    wsum = np.maximum(wsum, 1e-12)
    level /= wsum[:, None]
    voice /= wsum[:, None]
    return level + cfg.advocacy * voice, voice, wsum > 1e-12


@jit
def _country_means(country, pop, norm, shift, practice, E, high, level, voice, wsum):
    """Population-weighted sums per country (city order) of the signal (on high politics residents'
    norm as it stands, clip(norm + shift, 0, 1), or the norm when `shift` is empty; practice
    otherwise) and of engagement, and the weights."""
    N, I = norm.shape
    shifted = shift.shape[0] > 0
    for ci in range(N):
        s, w = country[ci], pop[ci]
        wsum[s] += w
        for i in range(I):
            if high[i]:
                x = min(max(norm[ci, i] + shift[ci, i], 0.0), 1.0) if shifted else norm[ci, i]
            else:
                x = practice[ci, i]
            level[s, i] += w * x
            voice[s, i] += w * E[ci, i]


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
    _uptake(s, c.country, c.practice, model.flows.gains, np.asarray(model.high, dtype=np.bool_), float(cfg.national_uptake))


@jit
def _uptake(stance, country, p, gains, high, uptake):
    """National uptake on low-politics issues: p_ci += min(1 - p_ci, uptake x max(0, stance_si - p_ci)),
    added to this year's gains too."""
    N, I = p.shape
    for ci in range(N):
        s = country[ci]
        for i in range(I):
            if high[i]:
                continue
            d = min(uptake * max(stance[s, i] - p[ci, i], 0.0), 1.0 - p[ci, i])
            p[ci, i] += d
            gains[ci, i] += d


def spillover_phase(model):
    """Residents' own norm events (always), then down, then up (each switchable); a stance locked by a
    withdrawal stays at 0 either way."""
    E = engagement(model)
    norm_events(model)
    if model.cfg.spillover.down:
        down(model, E)
    if model.cfg.spillover.up:
        up(model, E)
    else:
        model.countries.stance[model.countries.locked] = 0.0
