from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "anvil_voice.accounts"
    label = "accounts"
    verbose_name = "Organizations and access"
