"""C2 Small circles: the invitation lever leaves the open share alone, and the mechanism-off arm
(closed networks as open as open networks) is never more open than open networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.claims.plan import load_claim
from model.loading import load_scenario
from model.model import CityDiplomacyModel
from model.state import COMPETITIVE, INVITATION, OPEN, THRESHOLD

C2 = Path(__file__).resolve().parents[1] / "scenarios" / "claims" / "C2.yaml"


def _nets(**ov):
    return load_scenario(None, overrides={f"networks.{k}": v for k, v in ov.items()}).networks


@pytest.mark.parametrize("inv", [0.0, 0.1, 0.15, 0.2, 0.3, 0.35])
def test_invitation_lever_keeps_the_open_share(inv):
    n = _nets(selective_share=0.35, invitation_share=inv)
    o, thr, i, comp = n.rule_shares()
    assert o == pytest.approx(0.65)
    assert i == pytest.approx(inv)
    assert o + thr + i + comp == pytest.approx(1.0)
    # competitive and threshold networks give way, in their baseline proportion 8:12
    assert comp + thr == pytest.approx(0.35 - inv)
    if comp + thr > 0:
        assert comp / (comp + thr) == pytest.approx(0.08 / 0.20)


def test_without_selective_share_invitation_takes_from_open_networks():
    a, b = _nets(invitation_share=0.0).rule_shares(), _nets(invitation_share=0.3).rule_shares()
    assert a[0] - b[0] == pytest.approx(0.3)  # the old rule, kept as the default (the baseline is unchanged)
    assert a[1:] != b[1:] and a[1] == b[1] and a[3] == b[3]


def test_selective_share_bounds_the_invitation_share():
    with pytest.raises(Exception, match="selective_share"):
        _nets(selective_share=0.2, invitation_share=0.3)


def test_founded_rules_follow_the_lever():
    """All of the selective share to invitation: no competitive or threshold network is proposed or
    founded; none of it: no invitation network (proposals, not founded shares, follow rule_shares:
    an initiative without enough willing founders fails)."""
    for inv in (0.0, 0.35):
        cfg = load_scenario(None, overrides={"seed": 3, "steps": 12, "cities.n": 300, "networks.initial": 60,
                                             "networks.selective_share": 0.35, "networks.invitation_share": inv})
        m = CityDiplomacyModel.from_scenario(cfg)
        m.run()
        rule = m.networks.rule[:m.networks.n]
        assert (rule == OPEN).any()
        if inv == 0.35:
            assert not np.isin(rule, [COMPETITIVE, THRESHOLD]).any()
        else:
            assert not (rule == INVITATION).any() and np.isin(rule, [COMPETITIVE, THRESHOLD]).any()


@pytest.mark.parametrize("closed,open_", [(0.1, 0.5), (0.6, 0.5), (1.0, 0.3), (0.0, 0.7)])
def test_closed_as_open_is_exactly_as_open_as_open_networks(closed, open_):
    cfg = load_scenario(None, overrides={"seed": 2, "steps": 5, "cities.n": 300, "networks.initial": 40,
                                         "networks.invitation_share": 0.3, "networks.closed_as_open": True,
                                         "networks.openness_closed": closed, "networks.openness_open": open_})
    m = CityDiplomacyModel.from_scenario(cfg)
    m.run()
    n = m.networks.n
    closed_k = np.isin(m.networks.rule[:n], [INVITATION, COMPETITIVE])
    assert closed_k.any()
    assert np.all(m.networks.openness[:n][closed_k] == open_)


def test_c2_off_arm_is_never_more_open_than_open_networks():
    """The claim's mechanism-off arms switch closed networks to the open networks' openness, and no
    sample of its uncertainty space (with the off switch on top) makes them more open."""
    plan = load_claim(C2)
    offs = [a for a in plan.arms if a.role == "off"]
    assert {a.arm for a in offs} == {"control", "treatment"}
    for a in offs:
        n = load_scenario(a.data).networks
        assert n.closed_as_open and n.closed_openness() == n.openness_open
    for vals in plan.lhs_values:
        for a in offs:
            n = load_scenario(a.data, overrides=dict(vals)).networks
            assert n.closed_openness() <= n.openness_open
    # and the main arms keep circles closed: openness_closed is sampled only up to openness_open
    for a in plan.lhs_arms:
        n = load_scenario(a.data).networks
        assert n.closed_openness() <= n.openness_open
    # the gradient leaves the open share alone
    mains = [load_scenario(a.data).networks for a in plan.arms if a.role in ("main", "level")]
    assert len({round(n.rule_shares()[0], 12) for n in mains}) == 1
