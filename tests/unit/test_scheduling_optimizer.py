"""The retreat optimizer on small cohorts, every result checked by the independent validator;
infeasible cohorts name the rule that cannot be met."""

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from ortools.sat.python import cp_model

from kapstone.errors import InvalidInputs
from kapstone.scheduling import optimizer
from kapstone.scheduling.cohort import Cohort, Patient, Preference, Room, RoomKind, Staff
from kapstone.scheduling.rules import Credential, Kind
from kapstone.scheduling.series import Occurrence, OpeningHours
from kapstone.scheduling.validate import validate

MONDAY = date(2026, 3, 2)
EVERY_DAY = {day: (time(8), time(18)) for day in range(7)}
OPEN = OpeningHours.weekdays(time(8), time(18), range(7))
SLOTS = (time(8), time(10, 30), time(13), time(15, 30))


def nurse(key, *credentials, hours=EVERY_DAY, most=4):
    return Staff(key, frozenset({"nurse"}), credentials, hours, most)


def therapist(key, *codes, hours=EVERY_DAY, most=4):
    return Staff(key, frozenset({"therapist"}), tuple(Credential(c) for c in codes), hours, most)


PRESCRIBER = Staff("doc", frozenset({"prescriber"}), (Credential("acls"),), EVERY_DAY, 4)
ROSTER = (
    nurse("n1", Credential("acls")),
    nurse("n2", Credential("acls")),
    therapist("t1", "emdr"),
    therapist("t2", "ifs"),
    therapist("t3"),
)
ROOMS = (
    Room("Dosing 1", RoomKind.DOSING),
    Room("Dosing 2", RoomKind.DOSING),
    Room("Therapy 1", RoomKind.THERAPY),
    Room("Therapy 2", RoomKind.THERAPY),
)


def cohort(patients, **changes):
    base = Cohort(
        start=MONDAY,
        days=7,
        slot_times=SLOTS,
        opening=OPEN,
        patients=tuple(patients),
        rooms=ROOMS,
        staff=ROSTER,
    )
    return replace(base, **changes)


def solve(subject):
    return optimizer.optimize(subject, time_limit=5, workers=2)


FEASIBLE = {
    "two patients": [Patient("a", 3, "iv", "emdr"), Patient("b", 3, "im", "cbt")],
    "four mixed": [
        Patient("a", 3, "iv", "emdr"),
        Patient("b", 2, "sl", "ifs"),
        Patient("c", 3, "iv", "cbt"),
        Patient("d", 2, "im", "emdr"),
    ],
    "six patients": [Patient(f"p{n}", 3, "iv", ("emdr", "ifs", "cbt")[n % 3]) for n in range(6)],
}


@pytest.mark.parametrize("name", FEASIBLE)
def test_feasible_cohorts_pass_the_validator(name):
    subject = cohort(FEASIBLE[name])
    result = solve(subject)
    assert result.feasible, result.problems
    assert validate(subject, result.occurrences) == []
    assert len(result.occurrences) == 2 * sum(p.dosings for p in subject.patients)
    assert result.bound <= result.objective
    assert result.gap >= 0
    assert result.first_solution_seconds is not None


def test_esketamine_needs_a_prescriber_on_site():
    patients = [Patient("a", 2, "in_esketamine", "cbt")]
    # The prescriber works Wednesday to Saturday only: the dosing sessions fall in those days.
    part_time = replace(PRESCRIBER, hours={day: (time(8), time(18)) for day in (2, 3, 4, 5)})
    subject = cohort(patients, staff=(*ROSTER, part_time))
    result = solve(subject)
    assert result.feasible
    assert validate(subject, result.occurrences) == []
    dosing_days = {o.start.weekday() for o in result.occurrences if o.kind is Kind.DOSING}
    assert dosing_days <= {2, 3, 4, 5}


def test_preferences_are_honoured_when_possible():
    patients = [
        Patient("a", 3, "iv", "cbt", Preference.AFTERNOON),
        Patient("b", 3, "iv", "cbt", Preference.MORNING),
        Patient("c", 2, "im", "emdr", Preference.AFTERNOON),
    ]
    subject = cohort(patients)
    result = solve(subject)
    assert result.feasible
    assert validate(subject, result.occurrences) == []
    by_key = {p.key: p for p in patients}
    for o in result.occurrences:
        assert by_key[o.patient].preference.honoured_by(o.start), o


def test_load_is_balanced_between_clinicians():
    patients = [Patient(f"p{n}", 2, "iv", "cbt") for n in range(4)]
    subject = cohort(patients)
    result = solve(subject)
    loads = {}
    for o in result.occurrences:
        if o.kind is Kind.DOSING:
            loads[o.staff[0]] = loads.get(o.staff[0], 0) + 1
    assert sorted(loads.values()) == [4, 4]


def expired(days=1):
    return Credential("acls", MONDAY - timedelta(days=days))


@pytest.mark.parametrize(
    ("subject", "rule", "words"),
    [
        # Nobody has EMDR training.
        (
            cohort([Patient("a", 2, "iv", "emdr")], staff=(ROSTER[0], therapist("t3"))),
            "integration_window",
            "therapist with EMDR basic training",
        ),
        # The only nurse's ACLS card has expired.
        (
            cohort([Patient("a", 2, "iv", "cbt")], staff=(nurse("n1", expired()), ROSTER[4])),
            "credentials",
            "nurse or prescriber with ACLS certification",
        ),
        # Esketamine with no prescriber on the roster.
        (
            cohort([Patient("a", 2, "in_esketamine", "cbt")]),
            "credentials",
            "nurse or prescriber (with a prescriber on site)",
        ),
        # Six dosing sessions cannot fit in four days at one a day.
        (
            cohort([Patient("a", 6, "iv", "cbt")], days=4),
            "integration_window",
            "at most 3 fit in 4 days",
        ),
        # No therapy room.
        (
            cohort([Patient("a", 2, "iv", "cbt")], rooms=ROOMS[:1]),
            "rooms",
            "no therapy room",
        ),
        # One dosing room, four starts a day for five days: 24 sessions do not fit in 20.
        (
            cohort([Patient(f"p{n}", 4, "iv", "cbt") for n in range(6)], days=5,
                   rooms=(ROOMS[0], ROOMS[2])),
            "rooms",
            "1 dosing room hold at most 20",
        ),
        # One EMDR therapist, one session a day, for five EMDR patients over a week.
        (
            cohort([Patient(f"p{n}", 2, "iv", "emdr") for n in range(5)],
                   staff=(*ROSTER[:2], therapist("t1", "emdr", most=1), ROSTER[4])),
            "staff",
            "10 integration sessions need a therapist with EMDR basic training",
        ),
    ],
)  # fmt: skip
def test_infeasible_cohorts_name_the_rule(subject, rule, words):
    result = solve(subject)
    assert result.status == "INFEASIBLE"
    assert result.occurrences == ()
    assert any(p.rule == rule and words in p.message for p in result.problems), result.problems


def test_infeasibility_the_counts_miss_is_found_by_the_solver():
    # One dosing room and one start a day: both patients need Monday and Wednesday (their
    # integration only fits 46 hours later, at 08:00), so they cannot share the room. Each
    # patient alone fits, and the room's count (5) covers the 4 sessions.
    subject = cohort(
        [Patient("a", 2, "iv", "cbt"), Patient("b", 2, "iv", "cbt")],
        days=5,
        slot_times=(time(10),),
        integration_slot_times=(time(8),),
        dosing_minutes=60,
        rooms=(ROOMS[0], ROOMS[2]),
    )
    assert optimizer.precheck(subject) == []
    result = solve(subject)
    assert result.status == "INFEASIBLE"
    assert "rooms" in {p.rule for p in result.problems}, result.problems
    assert any("room capacity" in p.message for p in result.problems)


def test_validator_finds_each_broken_rule():
    subject = cohort([Patient("a", 1, "iv", "emdr")])
    good = optimizer.optimize(subject, time_limit=5, workers=2).occurrences
    assert validate(subject, good) == []
    dosing, talk = good

    def rules_broken(sessions):
        return {v.rule for v in validate(subject, sessions)}

    assert rules_broken([dosing]) >= {"integration_window"}
    assert rules_broken([replace(dosing, staff=("t3",)), talk]) >= {"staff", "credentials"}
    assert rules_broken([dosing, replace(talk, staff=("t3",))]) == {"credentials"}
    assert rules_broken([dosing, replace(talk, room="Dosing 1")]) == {"rooms"}
    early = replace(talk, start=dosing.start + timedelta(hours=5),
                    end=dosing.start + timedelta(hours=6))  # fmt: skip
    assert rules_broken([dosing, early]) == {"integration_window"}
    late = datetime.combine(dosing.start.date(), time(17, 30))
    assert "opening_hours" in rules_broken(
        [replace(dosing, start=late, end=late + timedelta(hours=2)), talk]
    )
    other = Occurrence(Kind.DOSING, dosing.start, dosing.end, "z", 1, "z", dosing.room,
                       dosing.staff, "iv")  # fmt: skip
    assert {"rooms", "staff", "demand"} <= rules_broken([dosing, talk, other])


def test_the_optimizer_needs_integration_before_the_next_dosing():
    from kapstone.errors import InvalidInput
    from kapstone.scheduling.series import default_rules

    subject = cohort([], series_rules=default_rules(integration_before_next_dosing=False))
    with pytest.raises(InvalidInput):
        optimizer.optimize(subject)


def test_an_empty_cohort_is_an_empty_schedule():
    result = solve(cohort([]))
    assert result.status == "OPTIMAL"
    assert result.occurrences == ()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"days": 0}, "days"),
        ({"slot_times": ()}, "slot_times"),
        ({"patients": (Patient("a", 2, "oral", "cbt"),)}, "route"),
        ({"patients": (Patient("a", 0, "iv", "cbt"),)}, "dosings"),
        ({"patients": (Patient("a", 1, "iv", "cbt"), Patient("a", 1, "im", "cbt"))}, "patients"),
        ({"staff": (ROSTER[0], ROSTER[0])}, "staff"),
    ],
)
def test_a_malformed_cohort_is_refused(changes, field):
    changes = dict(changes)
    with pytest.raises(InvalidInputs) as error:
        cohort(changes.pop("patients", ()), **changes)
    assert field in {e.field for e in error.value.errors}


def random_cohort(seed):
    rng = random.Random(seed)
    patients = [
        Patient(
            f"p{n}",
            rng.randint(1, 3),
            rng.choice(["iv", "im", "sl", "in_esketamine"]),
            rng.choice(["emdr", "ifs", "art", "cbt"]),
            rng.choice([None, Preference.MORNING, Preference.AFTERNOON]),
        )
        for n in range(rng.randint(1, 4))
    ]
    staff = [
        nurse("n1", Credential("acls", MONDAY + timedelta(days=rng.randint(-1, 6)))),
        therapist("t1", *rng.sample(["emdr", "ifs", "art"], rng.randint(0, 3)), most=2),
    ]
    if rng.random() < 0.5:
        days = {day: (time(8), time(18)) for day in rng.sample(range(7), 4)}
        staff.append(replace(PRESCRIBER, hours=days, max_sessions_per_day=rng.randint(1, 3)))
    if rng.random() < 0.5:
        staff.append(therapist("t2", rng.choice(["emdr", "ifs", "art"])))
    rooms = [ROOMS[0], ROOMS[2]] + ([ROOMS[1]] if rng.random() < 0.5 else [])
    return cohort(patients, staff=tuple(staff), rooms=tuple(rooms), days=rng.randint(3, 7))


@pytest.mark.parametrize("seed", range(12))
def test_random_cohorts_are_valid_or_truly_infeasible(seed):
    subject = random_cohort(seed)
    result = solve(subject)
    if result.feasible:
        assert validate(subject, result.occurrences) == []
        return
    assert result.status == "INFEASIBLE"
    assert result.problems
    # The counting checks never refuse a cohort the full model could schedule.
    grid = optimizer._Grid(subject)
    built = optimizer._build(subject, grid, 1, 1, assumptions=False)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 5
    assert solver.solve(built.model) == cp_model.INFEASIBLE


def test_patients_short_of_the_same_thing_are_named_together():
    patients = [Patient(k, 2, "iv", "emdr") for k in "abc"] + [Patient("d", 2, "iv", "cbt")]
    result = solve(cohort(patients, staff=(ROSTER[0], therapist("t3"))))
    window = [p.message for p in result.problems if p.rule == "integration_window"]
    expected = (
        "integration window: no therapist with EMDR basic training works 24-72 h after enough "
        "dosing times for 3 patients (a, b, c)"
    )
    assert window == [expected]
