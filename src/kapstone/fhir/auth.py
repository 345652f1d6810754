"""Who may call the FHIR endpoints: the JSON API's bearer tokens and the same permissions.

``fhir_requires(Permission.X)`` marks a view as ``requires`` does (the deny-by-default
middleware and its test read the mark), then checks, in this order: the HTTP method (405),
the media type the client accepts (406), the token (401) and the permission (403, recorded as
``access.denied``). Each refusal is an OperationOutcome. Sessions and cookies play no part, so
the views are exempt from CSRF checks.
"""

import json
from collections.abc import Sequence
from functools import wraps

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from kapstone.access.roles import Permission
from kapstone.api import TokenAuth
from kapstone.audit.recording import record_denied
from kapstone.core.permissions import PERMISSION_ATTR, has_permission

from .intake import Issue
from .resources import operation_outcome

FHIR_JSON = "application/fhir+json"
JSON_TYPES = (FHIR_JSON, "application/json")
# _format values that ask for JSON (FHIR RESTful API, "Content Type and encodings").
JSON_FORMATS = ("json", "application/json", "application/fhir+json")

_token = TokenAuth()


def fhir_response(resource: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(resource), status=status, content_type=f"{FHIR_JSON}; charset=utf-8"
    )


def outcome_response(status: int, issues: list[Issue]) -> HttpResponse:
    return fhir_response(operation_outcome(issues), status)


def _accepts_json(request) -> bool:
    wanted = request.GET.get("_format")
    if wanted is not None:
        return wanted in JSON_FORMATS
    return any(request.accepts(media_type) for media_type in JSON_TYPES)


def fhir_requires(permission: Permission, *, methods: Sequence[str] = ("GET",)):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                response = outcome_response(
                    405,
                    [Issue("not-supported", f"this endpoint answers {', '.join(methods)} only")],
                )
                response["Allow"] = ", ".join(methods)
                return response
            if not _accepts_json(request):
                return outcome_response(
                    406, [Issue("not-supported", f"this server answers in {FHIR_JSON} only")]
                )
            user = _token(request)
            if user is None:
                response = outcome_response(
                    401,
                    [
                        Issue(
                            "login",
                            "a valid API token is required: 'Authorization: Bearer <token>'",
                        )
                    ],
                )
                response["WWW-Authenticate"] = 'Bearer realm="kapstone"'
                return response
            if not has_permission(user, permission):
                record_denied(request, permission)
                return outcome_response(
                    403, [Issue("forbidden", f"this needs the permission '{permission}'")]
                )
            return view(request, *args, **kwargs)

        exempt = csrf_exempt(wrapped)
        setattr(exempt, PERMISSION_ATTR, permission)
        return exempt

    return decorator
