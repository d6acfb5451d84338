"""Daphne, the way the API needs it: `python -m anvil_voice.daphne_server [daphne options] app`.

Takes Daphne's own command line (it is Daphne's `CommandLineInterface`) with two differences
in how a request is read and answered, both in `ApiWebRequest`:

- **Form bodies are Django's to parse.** Twisted's `http.Request.requestReceived` parses a
  `multipart/form-data` or urlencoded POST body itself before Daphne sees the request, and
  answers a body it cannot parse (`--b--`, a multipart body with no parts) with a bare
  `400 Bad Request`, no body and no Content-Type, before Django runs. Twisted's documented
  `parsePOSTFormSubmission=False` turns that off; Django parses the body (Daphne never used
  Twisted's parsed `args`) and the API answers its envelope.
- **Every status has its standard reason phrase.** Twisted's own table lacks some (429 went
  out as `429 Unknown Status`); ASGI carries no reason phrase, so the phrase comes from
  `http.HTTPStatus`, as Uvicorn's does.

The request class reaches Daphne through `ApiHTTPFactory` (Daphne's factory, building our
request) and `ApiServer`, whose `http_factory` is always an `ApiHTTPFactory`: Daphne's
`Server.run` builds its factory and starts listening in one method, so the attribute is where
our factory can take its place. `make run` uses this module when `ASGI_SERVER=daphne`.
"""

from __future__ import annotations

import contextlib
from http import HTTPStatus
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server


class ApiWebRequest(WebRequest):
    """Daphne's request, leaving form bodies to Django and naming every standard status."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        if message is None:
            # Not a standard status: Twisted's "Unknown Status" stays.
            with contextlib.suppress(ValueError):
                message = HTTPStatus(code).phrase.encode("ascii")
        super().setResponseCode(code, message)


class ApiHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = ApiWebRequest
        return protocol


class ApiServer(Server):
    """Daphne's server with `ApiHTTPFactory` in place of the factory `run` builds."""

    @property
    def http_factory(self) -> ApiHTTPFactory:
        return self._api_http_factory

    @http_factory.setter
    def http_factory(self, factory: Any) -> None:
        if not isinstance(factory, ApiHTTPFactory):
            factory = ApiHTTPFactory(self)
        self._api_http_factory = factory


class ApiCommandLineInterface(CommandLineInterface):
    server_class = ApiServer


if __name__ == "__main__":
    ApiCommandLineInterface.entrypoint()
