"""Residents' norms' own dynamics (model/spillover.py, `norm_events`): world and national events in
every world, networks or not, from their own random stream (docs/ODD.md 7.6 and 11).

Before them, a world without networks had constant norms by definition (the standard deviation of
`resident_norm_mean` over 2000-2024 was 6e-17), so any network effect on norms was measured against
a frozen world (C3)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import A_PEACE

from model import spillover
from model.api import run_scenario


def _draws(m):
    """The year's draws of the `norms` stream, in the documented order: I world normals, then
    countries x I national normals."""
    rng = m.streams.rng("norms", m.year)
    return rng.standard_normal(m.n_issues), rng.standard_normal((m.countries.n, m.n_issues))


def test_world_event_moves_every_city_alike(make_model):
    m = make_model(A_PEACE, spillover__norm_event_world=0.1, spillover__norm_event_national=0.0)
    c = m.cities
    c.norm[:] = [0.4, 0.6]
    world, _ = _draws(m)
    spillover.norm_events(m)
    # every city: shift_ci = 0.1 x z_i, the same z_i everywhere; the lasting norm is unchanged
    assert c.norm_shift == pytest.approx(np.repeat((0.1 * world)[None, :], c.n, 0))
    assert (c.norm == [0.4, 0.6]).all()
    assert c.residents_norm() == pytest.approx(np.clip(np.array([0.4, 0.6]) + 0.1 * world, 0, 1)[None, :].repeat(c.n, 0))


def test_national_event_is_shared_within_a_country(make_model):
    m = make_model(A_PEACE, spillover__norm_event_world=0.0, spillover__norm_event_national=0.05)
    c = m.cities
    c.country[:] = 1
    c.country[:3] = 0
    c.norm[:] = 0.5
    _, national = _draws(m)
    spillover.norm_events(m)
    # cities 0-2 (country 0): 0.5 + 0.05 z_0i; the others (country 1): 0.5 + 0.05 z_1i
    r = c.residents_norm()
    assert r[:3] == pytest.approx(np.repeat((0.5 + 0.05 * national[0])[None, :], 3, 0))
    assert r[3:] == pytest.approx(np.repeat((0.5 + 0.05 * national[1])[None, :], c.n - 3, 0))
    assert not np.allclose(national[0], national[1])


def test_shift_decays_and_accumulates(make_model):
    """shift <- (1 - norm_decay) shift + event: two calls in the same year (the same draws e) give
    0.99 e + e (hand-computed form with norm_decay 0.01)."""
    m = make_model(A_PEACE, spillover__norm_event_world=0.02, spillover__norm_event_national=0.0,
                   spillover__norm_decay=0.01)
    world, _ = _draws(m)
    spillover.norm_events(m)
    spillover.norm_events(m)
    assert m.cities.norm_shift[0] == pytest.approx(0.99 * 0.02 * world + 0.02 * world)


def test_norms_as_they_stand_are_clipped_and_paired_worlds_draw_alike(make_model):
    """Residents' norms stay in [0, 1]; two models with the same seed draw the same events whatever their state."""
    m = make_model(A_PEACE, spillover__norm_event_world=0.5, spillover__norm_event_national=0.5)
    m2 = make_model(A_PEACE, spillover__norm_event_world=0.5, spillover__norm_event_national=0.5)
    m.cities.norm[:] = 0.0
    m.cities.norm[0] = 1.0
    m2.cities.norm[:] = 0.5
    world, national = _draws(m)
    spillover.norm_events(m)
    spillover.norm_events(m2)
    shock = 0.5 * world[None, :] + 0.5 * national[m.cities.country]
    assert m.cities.norm_shift == pytest.approx(shock)
    assert m2.cities.norm_shift == pytest.approx(shock)
    r = m.cities.residents_norm()
    assert r[1:] == pytest.approx(np.clip(shock[1:], 0, 1))
    assert r[0] == pytest.approx(np.clip(1 + shock[0], 0, 1))
    assert ((r >= 0) & (r <= 1)).all()


def test_events_act_without_the_down_channel_and_leave_priorities(make_model, add_networks, set_members):
    """Events are residents' own: they act with `spillover.down` off, and with it on they leave the
    lasting norm and priorities exactly as the down channel alone leaves them."""
    m = make_model(A_PEACE, spillover__down=False, spillover__up=False, spillover__norm_event_world=0.01,
                   spillover__norm_event_national=0.01)
    norm, prio = m.cities.norm.copy(), m.cities.priority.copy()
    spillover.spillover_phase(m)
    assert not np.allclose(m.cities.residents_norm(), norm)
    assert (m.cities.priority == prio).all()
    worlds = []
    for scale in (0.0, 0.05):
        m = make_model(A_PEACE, spillover__norm_event_world=scale, spillover__norm_event_national=scale)
        add_networks(m, 2)
        set_members(m, {0: [0, 1], 1: [0]})
        spillover.spillover_phase(m)
        worlds.append(m)
    assert (worlds[0].cities.norm == worlds[1].cities.norm).all()
    assert (worlds[0].cities.priority == worlds[1].cities.priority).all()
    assert not np.allclose(worlds[0].cities.residents_norm(), worlds[1].cities.residents_norm())


def test_high_politics_signal_reads_norms_as_they_stand(make_model):
    """The up channel's signal on high politics is the population-weighted mean of residents' norms
    with the events' shift: cities 0 (pop 1e6) and 1 (pop 3e6) of country 0, lasting norms 0.1 and
    0.2, shifts +0.1 and -0.1: (0.2 x 1 + 0.1 x 3) / 4 = 0.125."""
    m = make_model(A_PEACE, spillover__advocacy=0.0)
    c = m.cities
    c.country[:] = 1
    c.country[:2] = 0
    c.population[:2] = [1e6, 3e6]
    c.norm[:2, 1] = [0.1, 0.2]
    c.norm_shift = np.zeros_like(c.norm)
    c.norm_shift[:2, 1] = [0.1, -0.1]
    signal, _, _ = spillover.signals(m, np.zeros((c.n, 2)))
    assert signal[0, 1] == pytest.approx(0.125)


NO_NETWORKS = {"networks.initial": 0, "networks.founding_rate": 0, "networks.demand_rate": 0, "cities.n": 400}


def _window(ts):
    return ts[(ts.year >= 2000) & (ts.year <= 2024)]


def test_norms_move_in_a_world_without_networks():
    """A no-network world is a world: residents' norms move (the standard deviation of the mean norm
    over 2000-2024 is clearly above 0, about 0.003 in the full baseline world), modestly (the mean
    stays within 0.05 of its start), and without the events it is frozen as before."""
    ts = run_scenario("scenarios/baseline.yaml", overrides=NO_NETWORKS, seed=3, tables=False).timeseries
    w = _window(ts)
    assert w["resident_norm_mean"].std() > 1e-3
    assert abs(ts["resident_norm_mean"].iloc[-1] - ts["resident_norm_mean"].iloc[0]) < 0.05
    assert (w["high_politics_activity"] == 0).all()  # no networks, no network activity
    frozen = run_scenario("scenarios/baseline.yaml", seed=3, tables=False, overrides={
        **NO_NETWORKS, "spillover.norm_event_world": 0.0, "spillover.norm_event_national": 0.0}).timeseries
    assert _window(frozen)["resident_norm_mean"].std() < 1e-12
