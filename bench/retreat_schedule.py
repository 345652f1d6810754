"""Benchmark: the retreat optimizer on a full cohort.

    python bench/retreat_schedule.py [--patients 48] [--seconds 60] [--workers N]

Target: a feasible schedule for 48 patients over 2 weeks (6 dosing rooms, a realistic
roster) in under 10 s; after a 60 s run, the objective, the solver's best bound and the gap
between them. Every schedule found is checked by the independent validator. This prints
figures; it does not fail a build.

The cohort: an intensive retreat over 14 days, open Monday to Saturday 08:00-18:00; dosing
sessions (2 hours) start every two hours from 08:00 to 16:00, integration sessions (1 hour) on
the hour. 48 patients with 4 to 6 dosing sessions (routes IV, IM, sublingual and intranasal
esketamine) and an integration modality each (EMDR, IFS, ART, CBT, somatic, exposure); some
prefer mornings or afternoons. 6 dosing rooms and 4 therapy rooms; 9 nurses (one with an
expired ACLS card) and 2 prescribers, 8 therapists with mixed training (EMDR, IFS, ART or
none), on day (08:00-16:00) or late (10:00-18:00) shifts with a day off each.
"""

import argparse
import os
import random
import sys
import time
from datetime import date, timedelta
from datetime import time as clock_time

from kapstone.scheduling.cohort import Cohort, Patient, Preference, Room, RoomKind, Staff
from kapstone.scheduling.optimizer import optimize
from kapstone.scheduling.rules import Credential
from kapstone.scheduling.series import OpeningHours
from kapstone.scheduling.validate import validate

START = date(2026, 3, 2)  # a Monday
DAY_SHIFT = (clock_time(8), clock_time(16))
LATE_SHIFT = (clock_time(10), clock_time(18))
FULL = (clock_time(8), clock_time(18))


def roster(rng: random.Random) -> tuple[Staff, ...]:
    staff = []
    for n in range(9):
        days_off = {rng.randrange(6)}
        shift = DAY_SHIFT if n % 2 else LATE_SHIFT
        hours = {d: shift for d in range(6) if d not in days_off}
        expires = START - timedelta(days=1) if n == 7 else START + timedelta(days=400)
        acls = Credential("acls", expires)
        staff.append(Staff(f"nurse-{n + 1}", frozenset({"nurse"}), (acls,), hours, 4))
    for n in range(2):
        hours = {d: FULL for d in range(6)}
        staff.append(
            Staff(f"prescriber-{n + 1}", frozenset({"prescriber"}), (Credential("acls"),), hours, 3)
        )
    training = [("emdr",), ("emdr", "ifs"), ("emdr",), ("ifs",), ("art",), ("art", "emdr"), (), ()]
    for n, codes in enumerate(training):
        days_off = {rng.randrange(6)}
        shift = DAY_SHIFT if n % 2 else LATE_SHIFT
        hours = {d: shift for d in range(6) if d not in days_off}
        creds = tuple(Credential(code) for code in codes)
        staff.append(Staff(f"therapist-{n + 1}", frozenset({"therapist"}), creds, hours, 5))
    return tuple(staff)


def cohort(patients: int, seed: int = 1) -> Cohort:
    rng = random.Random(seed)
    routes = ["iv", "iv", "im", "sl", "in_esketamine"]
    modalities = ["emdr", "emdr", "ifs", "art", "cbt", "somatic", "exposure"]
    preferences = [Preference.MORNING, Preference.AFTERNOON, None, None]
    people = tuple(
        Patient(
            f"patient-{n + 1}",
            dosings=rng.choice([4, 5, 6]),
            route=rng.choice(routes),
            modality=rng.choice(modalities),
            preference=rng.choice(preferences),
        )
        for n in range(patients)
    )
    rooms = tuple(Room(f"Dosing {n + 1}", RoomKind.DOSING) for n in range(6)) + tuple(
        Room(f"Therapy {n + 1}", RoomKind.THERAPY) for n in range(4)
    )
    return Cohort(
        start=START,
        days=14,
        slot_times=tuple(clock_time(hour) for hour in range(8, 17, 2)),
        integration_slot_times=tuple(clock_time(hour) for hour in range(8, 17)),
        opening=OpeningHours.weekdays(clock_time(8), clock_time(18), range(6)),
        patients=people,
        rooms=rooms,
        staff=roster(rng),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"nproc: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"workers: {args.workers}")
    subject = cohort(args.patients)
    sessions = sum(p.dosings for p in subject.patients)
    print(f"cohort: {args.patients} patients, {sessions} dosing + {sessions} integration sessions")

    began = time.monotonic()
    quick = optimize(subject, time_limit=10.0, workers=args.workers)
    solver_first = quick.first_solution_seconds
    if solver_first is None:
        print(f"10 s run: status {quick.status}; no schedule")
    else:
        print(
            f"10 s run: status {quick.status}; first feasible after "
            f"{quick.build_seconds + solver_first:.2f} s (checks, greedy start and model "
            f"{quick.build_seconds:.2f} s + solver {solver_first:.2f} s)"
        )
        print(f"  objective {quick.objective}, bound {quick.bound}, gap {quick.gap:.1%}")
    print(f"  violations found by the validator: {len(validate(subject, quick.occurrences))}")
    for problem in quick.problems:
        print(f"  {problem.message}")

    full = optimize(subject, time_limit=args.seconds, workers=args.workers)
    print(f"{args.seconds:.0f} s run: status {full.status}; solve {full.solve_seconds:.1f} s")
    print(
        f"  objective {full.objective}, best bound {full.bound}, gap {full.gap:.1%}"
        if full.gap is not None
        else "  no solution"
    )
    print(f"  solutions (solver s, objective): {[(round(t, 1), v) for t, v in full.progress]}")
    print(f"  violations found by the validator: {len(validate(subject, full.occurrences))}")
    print(f"total wall time: {time.monotonic() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
