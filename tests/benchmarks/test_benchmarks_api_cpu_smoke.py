"""The API CPU benchmark still measures every endpoint through all three handlers."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import clear_url_caches

from benchmarks import api_cpu


@pytest.mark.django_db(transaction=True)
def test_each_handler_answers_every_endpoint(settings: Any) -> None:
    settings.API_RATE_LIMIT = "100000/m"
    settings.API_ORGANIZATION_RATE_LIMIT = "100000/m"
    api_cpu._install_urls()
    settings.ROOT_URLCONF = api_cpu.__name__
    try:
        key = api_cpu.seed()
        results = api_cpu.measure(
            handlers=("wsgi", "django-asgi", "asgi"), key=key, requests=1, rounds=1
        )
    finally:
        clear_url_caches()

    assert set(results) == {"wsgi", "django-asgi", "asgi"}
    for figures in results.values():
        assert set(figures) == set(api_cpu.ENDPOINTS)
        assert all(value > 0 for value in figures.values())
