from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "kapstone.assessments"
    label = "assessments"
    verbose_name = "Assessments"
