from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "kapstone.staff"
    label = "staff"
    verbose_name = "Staff"

    def ready(self):
        from kapstone.staff import signals  # noqa: F401  (connects log-in auditing)
