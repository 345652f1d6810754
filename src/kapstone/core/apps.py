from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kapstone.core"
    label = "core"
    verbose_name = "Clinic"
