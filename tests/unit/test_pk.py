"""The simulator against the closed-form solutions of the one- and two-compartment models, and
its properties: concentrations never negative, proportional to the dose, and the area under the
curve equal to F x dose / clearance."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.clinical import pk
from kapstone.clinical.instruments.registry import DefinitionError
from kapstone.clinical.pk import Administration, Model, Planned
from kapstone.errors import InvalidInput

ONE = Model(
    "one", "one-compartment test model", 1, v1_l_per_kg=0.5, k10=0.01, reference="-", source="-"
)
DATA = pk.shipped()
CLEMENTS = DATA.models["clements250"]
DOMINO = DATA.models["domino"]
WEIGHT = 70.0
TIGHT = 1e-9


def ng_ml(mg_per_l):
    return np.asarray(mg_per_l) * 1000.0


def run(model, administrations, ka=0.0, duration=600.0, step=1.0):
    sim = pk.simulate(
        model, WEIGHT, administrations, ka_per_min=ka, duration_min=duration, step_min=step
    )
    return np.array(sim.times_min), np.array(sim.concentrations_ng_ml), sim


def test_one_compartment_bolus():
    t, c, sim = run(ONE, [Administration(0, 35, "bolus")])
    volume = 0.5 * WEIGHT
    expected = ng_ml(35 / volume * np.exp(-0.01 * t))
    np.testing.assert_allclose(c, expected, rtol=TIGHT)
    # The area over the window, exactly: D / (V k) (1 - e^-kT), in ng·h/mL.
    area = 35 / (volume * 0.01) * (1 - math.exp(-0.01 * 600)) * 1000 / 60
    assert sim.auc_ng_h_per_ml == pytest.approx(area, rel=TIGHT)


def test_one_compartment_infusion():
    minutes, dose_mg = 40.0, 35.0
    t, c, _ = run(ONE, [Administration(0, dose_mg, "infusion", minutes)])
    volume, k, rate = 0.5 * WEIGHT, 0.01, dose_mg / minutes
    during = rate / (k * volume) * (1 - np.exp(-k * np.minimum(t, minutes)))
    expected = np.where(t <= minutes, during, during * np.exp(-k * (t - minutes)))
    np.testing.assert_allclose(c, ng_ml(expected), rtol=TIGHT)


@pytest.mark.parametrize(("ka", "f"), [(0.05, 0.29), (0.25, 0.93), (0.003, 0.48)])
def test_one_compartment_first_order_absorption_is_the_bateman_function(ka, f):
    t, c, _ = run(ONE, [Administration(0, 100, "depot", 0, f)], ka=ka)
    volume, k = 0.5 * WEIGHT, 0.01
    expected = f * 100 * ka / (volume * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    np.testing.assert_allclose(c, ng_ml(expected), rtol=TIGHT, atol=1e-9)


@pytest.mark.parametrize(
    "model", [CLEMENTS, pk.Model("two", "two", 2, 1.0, 0.05, "-", "-", 0.2, 0.1)]
)
def test_two_compartment_bolus_is_biexponential(model):
    t, c, _ = run(model, [Administration(0, 35, "bolus")], duration=1440)
    k10, k12, k21 = model.k10, model.k12, model.k21
    total = k10 + k12 + k21
    root = math.sqrt(total**2 - 4 * k10 * k21)
    alpha, beta = (total + root) / 2, (total - root) / 2
    c0 = 35 / model.central_volume_l(WEIGHT)
    a = c0 * (alpha - k21) / (alpha - beta)
    b = c0 * (k21 - beta) / (alpha - beta)
    expected = a * np.exp(-alpha * t) + b * np.exp(-beta * t)
    np.testing.assert_allclose(c, ng_ml(expected), rtol=TIGHT)


def test_an_infusion_between_grid_points_is_exact():
    t, c, _ = run(ONE, [Administration(2.5, 10, "infusion", 7.25)], step=1.0, duration=30)
    volume, k, rate = 0.5 * WEIGHT, 0.01, 10 / 7.25
    on = np.clip(t - 2.5, 0, 7.25)
    during = rate / (k * volume) * (1 - np.exp(-k * on))
    expected = np.where(t <= 9.75, during, during * np.exp(-k * (t - 9.75)))
    np.testing.assert_allclose(c, ng_ml(expected), rtol=TIGHT, atol=1e-12)


@pytest.mark.parametrize("ka", [0.02, 0.1, 0.5])
def test_ka_fitted_from_tmax_recovers_the_closed_form(ka):
    k = ONE.k10
    tmax = math.log(ka / k) / (ka - k)
    assert pk.fit_ka(ONE, tmax) == pytest.approx(ka, rel=1e-4)


def test_three_compartment_mass_balance():
    # Every mg absorbed is either still in the body or cleared: the area to infinity is the
    # absorbed amount over the clearance, here reached over a long window.
    _, _, sim = run(DOMINO, [Administration(0, 35, "infusion", 40)], duration=7 * 24 * 60, step=60)
    cl = DOMINO.clearance_l_per_min(WEIGHT)
    assert sim.auc_ng_h_per_ml == pytest.approx(35 / cl * 1000 / 60, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# Properties

models = st.sampled_from([ONE, CLEMENTS, DOMINO])
doses = st.floats(min_value=1, max_value=500)
weights = st.floats(min_value=25, max_value=350)
kinds = st.sampled_from(["bolus", "infusion", "depot"])


@st.composite
def regimens(draw):
    kind = draw(kinds)
    return kind, [
        Administration(
            draw(st.floats(0, 60)),
            draw(doses),
            kind,
            draw(st.floats(1, 60)) if kind == "infusion" else 0.0,
            draw(st.floats(0.05, 1)),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]


@settings(max_examples=40, deadline=None)
@given(models, weights, regimens(), st.floats(0.005, 1.0), st.floats(1.5, 5))
def test_concentration_is_never_negative_and_proportional_to_the_dose(
    model, weight, regimen, ka, factor
):
    kind, given_doses = regimen
    ka = ka if kind == "depot" else 0.0
    first = pk.simulate(model, weight, given_doses, ka_per_min=ka, duration_min=240, step_min=5)
    scaled = [
        Administration(a.start_min, a.mg * factor, a.kind, a.minutes, a.bioavailability)
        for a in given_doses
    ]
    second = pk.simulate(model, weight, scaled, ka_per_min=ka, duration_min=240, step_min=5)
    assert min(first.concentrations_ng_ml) >= 0
    np.testing.assert_allclose(
        np.array(second.concentrations_ng_ml),
        np.array(first.concentrations_ng_ml) * factor,
        rtol=1e-9,
        atol=1e-9,
    )


@settings(max_examples=40, deadline=None)
@given(models, weights, regimens(), st.floats(0.01, 1.0))
def test_the_area_under_the_curve_is_f_dose_over_clearance(model, weight, regimen, ka):
    kind, given_doses = regimen
    ka = ka if kind == "depot" else 0.0
    sim = pk.simulate(
        model, weight, given_doses, ka_per_min=ka, duration_min=7 * 24 * 60, step_min=120
    )
    expected = sum(a.mg * a.bioavailability for a in given_doses) / model.clearance_l_per_min(
        weight
    )
    assert sim.auc_ng_h_per_ml == pytest.approx(expected * 1000 / 60, rel=1e-3)
    assert sim.auc_inf_ng_h_per_ml == pytest.approx(expected * 1000 / 60, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Planned doses by route


def test_the_standard_iv_dose_peaks_near_the_published_level():
    # 0.5 mg/kg over 40 min gives a Cmax of about 185 ng/mL (clinical-facts.md §1.1, Zarate
    # 2006). The default model is an anaesthesia model, so this is a sanity check, not a fit.
    sim = pk.simulate_dose(Planned("iv", 35, infusion_minutes=40), 70)
    assert sim.model == "clements250"
    assert sim.time_to_peak_min == 40
    assert 185 * 0.75 < sim.peak_ng_ml < 185 * 1.25


@pytest.mark.parametrize(
    ("planned", "tmax"),
    [
        (Planned("im", 35), 10),
        (Planned("sl", 150), 45),
        (Planned("in_esketamine", 56, devices=1), 30),
    ],
)
def test_depot_routes_peak_at_their_published_time(planned, tmax):
    sim = pk.simulate_dose(planned, 70)
    assert abs(sim.time_to_peak_min - tmax) <= 1
    assert any("assumption" in note and "no ka was found" in note for note in sim.assumptions)


def test_intranasal_devices_are_given_with_rests():
    one_go = pk.simulate_dose(Planned("in_esketamine", 84, devices=1), 70)
    spaced = pk.simulate_dose(Planned("in_esketamine", 84, devices=3, device_rest_minutes=5), 70)
    assert spaced.absorbed_mg == pytest.approx(one_go.absorbed_mg)
    assert spaced.concentrations_ng_ml[5] < one_go.concentrations_ng_ml[5]
    assert any("racemic ketamine model" in note for note in spaced.assumptions)


def test_every_simulation_says_what_it_assumes():
    sim = pk.simulate_dose(Planned("iv", 35, infusion_minutes=40), 70, model_id="domino")
    text = " ".join(sim.assumptions)
    assert "estimate" in text and "PMID 7198883" in text and "approximations" in text
    assert "Bioavailability 100%" in text


def test_compare_routes():
    results = pk.compare_routes(
        [Planned("iv", 35, infusion_minutes=40), Planned("im", 35), Planned("sl", 35 / 0.29)], 70
    )
    iv, im, sl = results
    assert im.auc_inf_ng_h_per_ml == pytest.approx(iv.auc_inf_ng_h_per_ml * 0.93)
    # The route-equivalent sublingual dose gives the same exposure with a lower, later peak.
    assert sl.auc_inf_ng_h_per_ml == pytest.approx(iv.auc_inf_ng_h_per_ml)
    assert sl.peak_ng_ml < iv.peak_ng_ml
    assert sl.time_to_peak_min > im.time_to_peak_min


@pytest.mark.parametrize(
    ("mg", "source", "target", "expected"),
    [
        (35, "iv", "sl", 35 / 0.29),
        (35, "iv", "im", 35 / 0.93),
        (100, "sl", "iv", 29),
        (56, "in_esketamine", "iv", 56 * 0.48),
    ],
)
def test_route_equivalent_dose(mg, source, target, expected):
    assert pk.equivalent_mg(mg, source, target) == pytest.approx(expected)


def test_subcutaneous_is_not_simulated_without_a_bioavailability_figure():
    with pytest.raises(InvalidInput) as caught:
        pk.simulate_dose(Planned("sc", 17.5), 70)
    assert caught.value.field == "route"
    assert "no bioavailability figure" in caught.value.message


def test_a_clinic_can_give_the_subcutaneous_figure_it_relies_on():
    data = pk.data({"absorption": {"sc": {"bioavailability": 0.9, "tmax_minutes": 20}}})
    sim = pk.simulate_dose(Planned("sc", 17.5), 70, pk=data)
    assert abs(sim.time_to_peak_min - 20) <= 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"models": {"domino": {"k10": 1}}},
        {"absorption": {"iv": {"source": "ours"}}},
        {"absorption": {"im": {"bioavailability": 1.5}}},
        {"absorption": {"iv": {"tmax_minutes": 3}}},
        {"default_model": "marsh"},
    ],
)
def test_pk_overrides_that_break_the_rules_are_refused(overrides):
    with pytest.raises(DefinitionError):
        pk.data(overrides)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: pk.simulate_dose(Planned("oral", 100), 70), "route"),
        (lambda: pk.simulate_dose(Planned("iv", -35), 70), "dose_mg"),
        (lambda: pk.simulate_dose(Planned("iv", 35), 0), "weight_kg"),
        (lambda: pk.simulate_dose(Planned("iv", 35), 70, model_id="marsh"), "model"),
        (lambda: pk.simulate_dose(Planned("sl", 100, infusion_minutes=40), 70), "infusion_minutes"),
        (lambda: pk.simulate_dose(Planned("iv", 35), 70, duration_min=0), "duration_min"),
        (lambda: pk.simulate(ONE, 70, [Administration(0, 1, "depot")]), "ka_per_min"),
        (lambda: pk.simulate(ONE, 70, []), "administrations"),
        (lambda: pk.simulate(ONE, 70, [Administration(0, 1, "patch")]), "kind"),
        (lambda: pk.equivalent_mg(0, "iv", "sl"), "dose_mg"),
    ],
)
def test_impossible_input_is_refused_naming_the_field(call, field):
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.field == field
