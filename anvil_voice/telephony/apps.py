from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "anvil_voice.telephony"
    label = "telephony"
    verbose_name = "Telephony"
