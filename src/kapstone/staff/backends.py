from django.contrib.auth.backends import ModelBackend

from kapstone.staff.models import User


class StaffBackend(ModelBackend):
    """Loads the user with their roles in one extra query per request, not one per check."""

    def get_user(self, user_id):
        user = User.objects.prefetch_related("role_rows").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
