from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "kapstone.demo"
    label = "demo"
    verbose_name = "Demo clinic"
