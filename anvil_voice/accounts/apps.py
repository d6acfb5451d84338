from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "anvil_voice.accounts"
    label = "accounts"
    verbose_name = "Organizations and access"

    def ready(self) -> None:
        from anvil_voice.accounts import signals  # noqa: F401 - connects the receivers
