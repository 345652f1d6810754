"""Where the current request comes from, for the audit trail, without passing the request
through every action function."""

from contextvars import ContextVar

origin = ContextVar("audit_origin", default="")


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")[:45]


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = origin.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            origin.reset(token)
