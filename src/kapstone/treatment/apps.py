from django.apps import AppConfig


class TreatmentConfig(AppConfig):
    name = "kapstone.treatment"
    label = "treatment"
    verbose_name = "Eligibility and treatment plans"
