from django.urls import include, path

from kapstone.api import api
from kapstone.assessments import views as assessment_views
from kapstone.audit import views as audit_views
from kapstone.core import views as core_views
from kapstone.credentials import views as credential_views
from kapstone.dosing import views as dosing_views
from kapstone.integration import views as integration_views
from kapstone.ledger import views as ledger_views
from kapstone.patients import views as patient_views
from kapstone.scheduling import views as scheduling_views
from kapstone.staff import views as staff_views
from kapstone.treatment import views as treatment_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("", include(staff_views.urlpatterns)),
    path("patients/", include(patient_views.urlpatterns)),
    path("audit/", include(audit_views.urlpatterns)),
    path("", include(assessment_views.urlpatterns)),
    path("", include(treatment_views.urlpatterns)),
    path("dosing/", include(dosing_views.urlpatterns)),
    path("ledger/", include(ledger_views.urlpatterns)),
    path("credentials/", include(credential_views.urlpatterns)),
    path("", include(integration_views.urlpatterns)),
    path("schedule/", include(scheduling_views.urlpatterns)),
    path("settings/", include("kapstone.core.settings_views")),
    path("api/", api.urls),
    path("fhir/", include("kapstone.fhir.views", namespace="fhir")),
]
