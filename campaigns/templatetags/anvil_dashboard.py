from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("admin/anvil_dashboard.html", takes_context=True)
def anvil_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    # Imported here, not at the top: template tag libraries are loaded while the theme's
    # `unfold.admin` module is still being defined (it renders a widget at import), and the
    # dashboard's scoping helpers import `unfold.admin` (a circular import at start-up).
    from campaigns.dashboard import dashboard_context

    return dashboard_context(request=context["request"])
