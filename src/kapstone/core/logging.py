"""A log filter that keeps patient data out of the logs.

Exception messages can carry data (a database error quoting the duplicate value, a parse error
quoting the input), so error records keep their traceback's code locations but lose the
message text, and request objects are not rendered. A check-in link's token (its path is
/c/<token>/) and a home-practice link's (/p/<token>/) are replaced wherever a message or its
arguments carry them.
"""

import logging
import re
import traceback

# Paths that carry a secret: a check-in link (/c/), a home-practice link (/p/) and a
# clinician's calendar feed (/schedule/feed/<token>.ics).
CHECKIN_TOKEN = re.compile(r"/([cp]|schedule/feed)/[A-Za-z0-9_=-]+")


def redact_checkin_tokens(text: str) -> str:
    return CHECKIN_TOKEN.sub(r"/\1/[link]", text)


def _redact(value):
    return redact_checkin_tokens(value) if isinstance(value, str) else value


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _exc, tb = record.exc_info
            frames = "".join(traceback.format_tb(tb))
            record.exc_text = f"Traceback (most recent call last):\n{frames}{exc_type.__name__}"
            record.exc_info = None
        if hasattr(record, "request"):
            record.request = None
        if record.name == "django.request" and record.args:
            # "Internal Server Error: %s" with the path; keep the path, drop query strings.
            record.args = tuple(str(arg).split("?", 1)[0] for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_checkin_tokens(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: _redact(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        return True
