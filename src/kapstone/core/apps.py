from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kapstone.core"
    label = "core"
    verbose_name = "Clinic"

    def ready(self):
        from kapstone.core import checks  # noqa: F401  (registers the start-up checks)
