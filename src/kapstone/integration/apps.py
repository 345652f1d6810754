from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "kapstone.integration"
    label = "integration"
    verbose_name = "Integration"
