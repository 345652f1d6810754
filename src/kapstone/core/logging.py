"""A log filter that keeps patient data out of the logs.

Exception messages can carry data (a database error quoting the duplicate value, a parse error
quoting the input), so error records keep their traceback's code locations but lose the
message text, and request objects are not rendered.
"""

import logging
import traceback


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
        return True
