"""`manage.py twilio_simulator`: run the local Twilio with the project's settings."""

from __future__ import annotations

import asyncio
import logging
from argparse import ArgumentParser
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from anvil_voice.telephony.simulator import TwilioSimulator
from anvil_voice.telephony.simulator.cli import add_arguments, serve


def default_rewrites() -> list[tuple[str, str]]:
    """Reach our own server at PUBLIC_BASE_URL even though TwiML says `wss://`/`https://`.

    Locally the app serves plain HTTP, but Twilio only dials secure URLs, so our TwiML and
    callbacks name `wss://host`/`https://host`: connect to the real scheme, sign the written URL.
    """
    configured = settings.TWILIO_SIMULATOR_URL_REWRITES
    if configured:
        return [(str(public), str(local)) for public, local in configured]
    public = urlsplit(str(settings.PUBLIC_BASE_URL))
    if not public.netloc:
        return []
    ws_scheme = "wss" if public.scheme == "https" else "ws"
    return [
        (f"wss://{public.netloc}", f"{ws_scheme}://{public.netloc}"),
        (f"https://{public.netloc}", f"{public.scheme}://{public.netloc}"),
    ]


class Command(BaseCommand):
    help = "Run the local Twilio simulator (REST, TwiML, Media Streams, personas)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_arguments(parser, port=int(settings.TWILIO_SIMULATOR_PORT))

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        simulator = TwilioSimulator(
            str(settings.TWILIO_ACCOUNT_SID),
            str(settings.TWILIO_AUTH_TOKEN),
            host=options["host"],
            port=options["port"],
            cps=options["cps"],
            time_scale=options["time_scale"],
            url_rewrites=options["rewrite"] or default_rewrites(),
        )
        try:
            asyncio.run(serve(simulator))
        except OSError as error:
            # A port in use is the usual cause: say so in one line rather than a traceback.
            address = f"{options['host']}:{options['port']}"
            raise CommandError(f"Twilio simulator cannot listen on {address}: {error}") from error
