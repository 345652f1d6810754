"""Patient data never reaches the logs or error messages."""

import logging
import sys

import pytest

from kapstone.access.roles import Role
from kapstone.core.logging import ScrubFilter


def test_searching_and_charting_log_no_names(client_for, make_patient, caplog):
    patient = make_patient(first_name="Thaddeus", last_name="Wolcott")
    client = client_for(Role.NURSE)
    with caplog.at_level(logging.DEBUG):
        client.get("/patients/", {"q": "Wolcott"})
        client.get(f"/patients/{patient.pk}/")
        client.post("/patients/new/", {"first_name": "Thaddeus", "last_name": "Wolcott"})
    assert "Wolcott" not in caplog.text
    assert "Thaddeus" not in caplog.text


def test_error_records_keep_the_traceback_but_drop_the_message():
    # Kept off the raise line: a traceback prints that source line, and real data would be in
    # the exception only.
    email = "thaddeus@example.com"
    try:
        raise ValueError(f"duplicate key value (email)=({email})")
    except ValueError:
        record = logging.LogRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            ("/patients/?q=Wolcott",),
            sys.exc_info(),
        )
    ScrubFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "thaddeus@example.com" not in text
    assert "Wolcott" not in text
    assert "ValueError" in text and "/patients/" in text


@pytest.mark.parametrize("path", ["/patients/999999/", "/patients/999999/edit/"])
def test_not_found_pages_say_nothing_about_patients(client_for, path, clinic):
    response = client_for(Role.NURSE).get(path)
    assert response.status_code == 404
    assert b"999999" not in response.content
