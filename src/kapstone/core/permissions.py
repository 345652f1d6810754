"""Permission checks for views: every view declares what it needs.

``requires(Permission.X)`` marks a view; ``public`` marks the few pages anyone may open
(log-in, health check). The RequirePermissionMiddleware refuses any view that carries neither
mark, so a view someone forgets to mark is closed, not open.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied

from kapstone.access.roles import Permission
from kapstone.audit.recording import record_denied
from kapstone.errors import AccessDenied

PERMISSION_ATTR = "kapstone_permission"
PUBLIC = "public"
SIGNED_IN = "signed_in"


def user_permissions(user) -> frozenset[Permission]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    return user.permissions


def has_permission(user, permission: Permission) -> bool:
    return permission in user_permissions(user)


def check_permission(user, permission: Permission) -> None:
    if not has_permission(user, permission):
        raise AccessDenied(permission)


def _mark(view, value):
    setattr(view, PERMISSION_ATTR, value)
    return view


def requires(permission: Permission):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_permission(request.user, permission):
                record_denied(request, permission)
                raise PermissionDenied(f"needs {permission}")
            return view(request, *args, **kwargs)

        return _mark(wrapped, permission)

    return decorator


def public(view):
    return _mark(view, PUBLIC)


def signed_in(view):
    """Any signed-in staff member (the home page, their own account)."""
    return _mark(view, SIGNED_IN)
