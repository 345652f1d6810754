"""The shared machinery of the access matrices.

Each area of the app keeps its own page table in a module named ``test_access_*.py`` with a
``PAGES`` list of :class:`Page` and a ``world`` fixture holding the records its pages act on
(every world has a ``patient``). The checks here are the same for every table, and
``test_access_guard.py`` proves that the tables together cover every page that is not public.

The allowed roles for each page come from kapstone.access.roles.roles_with(), so a view whose
declared permission drifts from its table, or a middleware that lets the wrong role through,
fails.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import resolve, reverse

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role, roles_with
from kapstone.audit.models import AuditEvent
from kapstone.core.permissions import PERMISSION_ATTR, SIGNED_IN

ALL_ROLES = list(Role)
World = Any


def no_args(w) -> list:
    return []


def count_of(model) -> Callable[[World], int]:
    return lambda w: model.objects.filter(patient=w.patient).count()


@dataclass(frozen=True)
class Page:
    id: str
    method: str
    url_name: str
    # None: any signed-in member of staff.
    permission: P | None
    args: Callable[[World], list] = lambda w: [w.patient.pk]
    query: str = ""
    data: dict = field(default_factory=dict)
    # The audit action an allowed access records, and whether it names the patient.
    audit: str | None = None
    names_patient: bool = True
    # Other actions the same access records beside it (a booked series also creates its
    # dosing sessions), in any number: every event must be the page's or one of these.
    also_audited: tuple[str, ...] = ()
    # What a POST changes; refused and anonymous POSTs must leave it as it was.
    state: Callable[[World], object] | None = None
    # Where an allowed POST goes next.
    redirects_to: str = "patient_chart"
    # The patient an allowed access names, when it is not the world's patient.
    audited_patient: Callable[[World, Any], int] | None = None

    def url(self, world: World) -> str:
        path = reverse(self.url_name, args=self.args(world))
        return f"{path}?{self.query}" if self.query else path

    @property
    def allowed(self) -> frozenset[Role]:
        return frozenset(ALL_ROLES) if self.permission is None else roles_with(self.permission)


def last_seq() -> int:
    latest = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return latest or 0


def events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def send(client: Client, page: Page, world: World):
    url = page.url(world)
    if page.method == "post":
        return client.post(url, page.data)
    response = client.get(url)
    if response.streaming:
        # An export is written while it streams; read it all as a browser would.
        b"".join(response.streaming_content)
    return response


def user_of(client: Client):
    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


def check_page_access(page: Page, role: Role, world: World, client_for) -> None:
    # Arrange
    client = client_for(role)
    user = user_of(client)
    before_state = page.state(world) if page.state else None
    before_seq = last_seq()

    # Act
    response = send(client, page, world)

    # Assert
    events = events_since(before_seq)
    after_state = page.state(world) if page.state else None
    if role in page.allowed:
        if page.method == "post":
            assert response.status_code == 302, response.content[:500]
            target = resolve(response["Location"].split("?")[0])
            assert target.url_name == page.redirects_to
            assert after_state != before_state, "a successful POST changed nothing"
        else:
            assert response.status_code == 200
        assert not [e for e in events if e.action == "access.denied"]
        if page.audit:
            _assert_audited(page, events, user, world, response)
    else:
        assert response.status_code == 403
        assert [(e.action, e.actor_id) for e in events] == [("access.denied", user.pk)]
        assert events[0].detail["permission"] == str(page.permission)
        assert events[0].detail["view"] == page.url_name
        assert after_state == before_state


def _assert_audited(page: Page, events, user, world: World, response) -> None:
    assert {e.actor_id for e in events} == {user.pk}
    assert {e.actor_username for e in events} == {user.username}
    if page.also_audited:
        actions = [e.action for e in events]
        assert actions.count(page.audit) == 1, actions
        assert set(actions) <= {page.audit, *page.also_audited}, actions
        events = [e for e in events if e.action == page.audit]
    assert [e.action for e in events] == [page.audit], [e.action for e in events]
    if not page.names_patient:
        assert {e.patient_id for e in events} == {None}
        return
    if page.audited_patient:
        expected_patient = page.audited_patient(world, response)
    else:
        expected_patient = world.patient.pk
    # One read event per page: a list page's event names every patient it showed (here one,
    # so it names that patient, as a chart's does; test_audit_trail covers longer lists).
    assert [e.patient_id for e in events] == [expected_patient]


def check_declared_permission(page: Page, world: World) -> None:
    # Arrange
    url = page.url(world).split("?")[0]

    # Act
    declared = getattr(resolve(url).func, PERMISSION_ATTR, None)

    # Assert
    assert declared == (page.permission if page.permission else SIGNED_IN)


def check_anonymous_is_sent_to_login(page: Page, world: World, client: Client) -> None:
    # Arrange
    before_state = page.state(world) if page.state else None
    before_seq = last_seq()

    # Act
    response = send(client, page, world)

    # Assert
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert (page.state(world) if page.state else None) == before_state
    assert events_since(before_seq) == []
