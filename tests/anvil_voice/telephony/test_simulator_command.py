"""`manage.py twilio_simulator`: settings decide where the simulator connects by default."""

from __future__ import annotations

from anvil_voice.telephony.management.commands.twilio_simulator import Command, default_rewrites


def test_it_maps_the_secure_public_urls_to_the_local_plain_server(settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    settings.TWILIO_SIMULATOR_URL_REWRITES = None

    assert default_rewrites() == [
        ("wss://127.0.0.1:8000", "ws://127.0.0.1:8000"),
        ("https://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ]


def test_explicit_rewrites_win(settings):
    settings.TWILIO_SIMULATOR_URL_REWRITES = [("wss://public.example", "ws://127.0.0.1:9000")]

    assert default_rewrites() == [("wss://public.example", "ws://127.0.0.1:9000")]


def test_its_options_default_to_the_settings_port(settings):
    settings.TWILIO_SIMULATOR_PORT = 8123
    parser = Command().create_parser("manage.py", "twilio_simulator")

    options = parser.parse_args(["--cps", "5", "--rewrite", "wss://a.example=ws://127.0.0.1:1"])

    assert (options.port, options.cps, options.time_scale) == (8123, 5.0, 1.0)
    assert options.rewrite == [("wss://a.example", "ws://127.0.0.1:1")]
