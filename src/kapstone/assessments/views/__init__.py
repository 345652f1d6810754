"""Pages for measurement-based care, one module per concern."""

from . import alerts, charts, checkins, dashboard, entry

urlpatterns = [
    *entry.urlpatterns,
    *alerts.urlpatterns,
    *dashboard.urlpatterns,
    *checkins.urlpatterns,
    *charts.urlpatterns,
]
