"""Swagger UI and ReDoc work offline: every asset they reference is served by us."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings

PAGES = ["/api/v1/voice/docs/", "/api/v1/voice/redoc/"]
# Anything a page would fetch or link to: src/href attributes and URLs inside its scripts.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|["'`](https?:)?//[^"'`\s]+""")


def references(html: str) -> list[str]:
    found = []
    for match in REFERENCE.finditer(html):
        found.append(match.group(1) or match.group(0).strip("\"'`"))
    return found


@pytest.mark.parametrize("page", PAGES)
def test_the_docs_page_references_no_external_host(page, anonymous):
    response = anonymous.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    refs = references(html)
    assert refs, "the page should reference its assets"
    external = [ref for ref in refs if "//" in ref and not ref.startswith("//testserver")]
    assert external == []
    assert "cdn.jsdelivr.net" not in html
    assert "@latest" not in html
    # The browser enforces it too (ReDoc's bundle has a logo URL on cdn.redoc.ly).
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "img-src 'self' data:" in policy
    assert "http" not in policy


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_the_docs_page_references_is_served(page, anonymous, db):
    html = anonymous.get(page).content.decode()
    assets = [ref for ref in references(html) if ref.startswith("/static/")]
    assert assets

    # Served from the finders, as `make run` does (WhiteNoise, DEBUG) and as collectstatic
    # would after a deploy.
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        client = Client()
        statuses = {asset: client.get(asset).status_code for asset in assets}

    assert statuses == dict.fromkeys(assets, 200)


def test_the_schema_the_docs_load_is_local(anonymous):
    html = anonymous.get("/api/v1/voice/redoc/").content.decode()

    assert "/api/v1/voice/schema/" in html
