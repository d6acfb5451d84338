from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/voice/", include(("anvil_voice.api.urls", "api"), namespace="api")),
]
