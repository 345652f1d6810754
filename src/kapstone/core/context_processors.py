from django.utils.functional import SimpleLazyObject

from kapstone.core.permissions import user_permissions


def clinic(request):
    user = getattr(request, "user", None)
    return {
        "kperms": SimpleLazyObject(lambda: {str(p) for p in user_permissions(user)}),
    }
