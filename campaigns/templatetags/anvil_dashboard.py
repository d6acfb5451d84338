from __future__ import annotations

from typing import Any

from django import template

from campaigns.dashboard import dashboard_context

register = template.Library()


@register.inclusion_tag("admin/anvil_dashboard.html", takes_context=True)
def anvil_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    return dashboard_context(request=context["request"])
