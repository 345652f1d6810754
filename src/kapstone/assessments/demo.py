"""Questionnaire courses for the demo clinic: baselines, falling scores over a KAP course,
responders and non-responders, one open suicide-risk alert and check-ins due and overdue.

Deterministic for a seed, and written through the real actions so every score is computed by
the scoring code and audited.
"""

import random
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from kapstone.assessments import actions
from kapstone.assessments.models import Assessment, CheckIn
from kapstone.clinical import instruments
from kapstone.patients.models import Patient

COURSES = 24


def answers_for_total(rng: random.Random, instrument: str, total: int, **fixed) -> dict:
    """Item answers that add up to ``total`` (items given in ``fixed`` keep their answer)."""
    inst = instruments.get(instrument)
    answers = {item.id: item.min for item in inst.items}
    answers.update(fixed)
    free = [item for item in inst.items if item.id not in fixed]
    remaining = total - sum(answers.values())
    while remaining > 0:
        item = rng.choice([i for i in free if answers[i.id] < i.max])
        answers[item.id] += 1
        remaining -= 1
    return answers


def _at(day, hour: int) -> datetime:
    # A minute that varies by day, so the demo's times do not all read 09:00.
    minute = (day.toordinal() * 7) % 60
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def build_scores(seed: int) -> int:
    """Add courses to the first demo patients that have none. Returns how many were scored."""
    rng = random.Random(f"{seed}:scores")
    nurse = get_user_model().objects.get(username="nurse")
    today = timezone.localdate()
    patients = list(
        Patient.objects.exclude(pk__in=Assessment.objects.values("patient_id")).order_by("pk")[
            :COURSES
        ]
    )
    for index, patient in enumerate(patients):
        weeks = rng.randint(3, 10)
        start = today - timedelta(weeks=weeks, days=rng.randint(0, 5))
        baseline_gad, baseline_phq = rng.randint(12, 19), rng.randint(10, 20)
        # A third respond well, a third partly, a third hardly at all.
        kind = index % 3
        floor_gad = {0: rng.randint(2, 4), 1: rng.randint(7, 9), 2: baseline_gad - 2}[kind]
        floor_phq = {0: rng.randint(2, 4), 1: rng.randint(8, 10), 2: baseline_phq - 2}[kind]
        for instrument, baseline, floor in (
            ("gad7", baseline_gad, floor_gad),
            ("phq9", baseline_phq, floor_phq),
        ):
            fixed = {"q9": 0} if instrument == "phq9" else {}
            actions.record_assessment(
                by=nurse,
                patient=patient,
                instrument=instrument,
                answers=answers_for_total(rng, instrument, baseline, **fixed),
                answered_at=_at(start, 9),
                timepoint="baseline",
            )
            for week in range(1, weeks + 1):
                day = start + timedelta(weeks=week)
                if _at(day, 9) > timezone.now():
                    break
                fall = (baseline - floor) * min(1.0, week / 4)
                total = max(0, round(baseline - fall + rng.randint(-1, 1)))
                actions.record_assessment(
                    by=nurse,
                    patient=patient,
                    instrument=instrument,
                    answers=answers_for_total(rng, instrument, total, **fixed),
                    answered_at=_at(day, 9),
                    timepoint="weekly",
                )
    if len(patients) >= 4:
        _alerts_and_checkins(rng, patients, nurse)
    return len(patients)


def _alerts_and_checkins(rng, patients, nurse) -> None:
    # One patient's latest PHQ-9 answered item 9 above 0: an open alert on the dashboard.
    alerting = patients[-1]
    actions.record_assessment(
        by=nurse,
        patient=alerting,
        instrument="phq9",
        answers=answers_for_total(rng, "phq9", 14, q9=1),
        answered_at=timezone.now() - timedelta(hours=3),
        timepoint="weekly",
    )
    # Another's was acknowledged with the action taken.
    earlier = actions.record_assessment(
        by=nurse,
        patient=patients[-2],
        instrument="phq9",
        answers=answers_for_total(rng, "phq9", 12, q9=1),
        answered_at=timezone.now() - timedelta(days=6),
        timepoint="weekly",
    )
    actions.acknowledge_alert(
        by=nurse, alert=earlier.alerts.get(), action="contacted", note="Called the same day."
    )
    # Check-ins: one due now, two overdue, one answered.
    for offset_hours, patient in ((2, patients[0]), (30, patients[1]), (50, patients[2])):
        checkin, _ = actions.send_checkin(
            by=nurse, patient=patient, instruments=["gad7"], timepoint="weekly", email=False
        )
        # Demo only: back-date the link so the dashboard has something due and overdue.
        due = timezone.now() - timedelta(hours=offset_hours)
        CheckIn.objects.filter(pk=checkin.pk).update(
            due_at=due, expires_at=due + timedelta(hours=72)
        )
    checkin, token = actions.send_checkin(
        by=nurse, patient=patients[3], instruments=["gad7", "phq9"], email=False
    )
    actions.submit_checkin(
        token=token,
        answers={
            "gad7": answers_for_total(rng, "gad7", 6),
            "phq9": answers_for_total(rng, "phq9", 5, q9=0),
        },
    )
