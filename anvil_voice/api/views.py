"""Base views: authentication, the rate limit, and tenant scoping by construction.

Every resource viewset derives from `OrganizationScopedViewSet` and provides
`get_base_queryset()`; the base class owns `get_queryset()`/`get_object()` and always filters by
the caller's organization, so no endpoint can forget it. Another organization's id is a 404.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import exceptions, viewsets
from rest_framework.request import Request
from rest_framework.views import APIView

from anvil_voice.accounts.models import Organization
from anvil_voice.accounts.principal import Principal


class ApiViewMixin:
    """Throttle before permission checks, and count failed authentications by IP too."""

    rate_limit_exempt: ClassVar[bool] = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        view: Any = self
        view.format_kwarg = view.get_format_suffix(**kwargs)
        neg = view.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = view.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        try:
            view.perform_authentication(request)
        except exceptions.AuthenticationFailed:
            # Guessing keys costs the guesser's IP budget.
            view.check_throttles(request)
            raise
        view.check_throttles(request)
        view.check_permissions(request)


class ApiView(ApiViewMixin, APIView):
    pass


class OrganizationScopedViewSet(ApiViewMixin, viewsets.GenericViewSet):
    lookup_value_regex = r"[0-9]+"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} must override get_base_queryset(), not get_queryset(): "
                "tenant scoping lives in the base class."
            )

    @property
    def principal(self) -> Principal:
        principal = self.request.auth
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated()
        return principal

    @property
    def organization(self) -> Organization:
        return self.principal.organization

    def get_base_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            # Schema generation has no caller; describe the model without touching tenants.
            return self.get_base_queryset().none()
        return self.get_base_queryset().filter(organization=self.organization)

    def get_object(self) -> Model:
        # Scoped queryset + 404 for anything outside it (never 403, never data).
        return super().get_object()
