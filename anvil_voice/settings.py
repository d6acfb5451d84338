"""Settings for Anvil Voice, read from the environment in this one place.

With nothing set, the project runs on the embedded default: SQLite, local-memory cache, the
in-memory channel layer, local media files, a Celery broker on the filesystem, the Twilio
simulator and local speech. Production switches each piece with an environment variable
(see `.env.example`); the same code paths run in both.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from anvil_voice.capacity import live_call_capacity
from anvil_voice.env import Env
from anvil_voice.pricing import PriceTableError, parse_prices

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.get_str("ANVIL_VAR_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env.get_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
REDIS_URL = env.get_url("REDIS_URL", schemes=("redis", "rediss"))
# The embedded default is what `make run` and `make test` use when nothing is configured.
EMBEDDED = not DATABASE_URL and not REDIS_URL

DEBUG = env.get_bool("DEBUG", default=EMBEDDED)
_DEV_SECRET_KEY = "embedded-default-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_KEY = env.get_str("SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [])

# The public address Twilio reaches us on; webhook signatures are computed against it, never
# against the Host header a proxy passes on.
PUBLIC_BASE_URL: str = env.get_url(
    "PUBLIC_BASE_URL", "http://127.0.0.1:8000", schemes=("http", "https")
).rstrip("/")

INSTALLED_APPS = [
    # Daphne first so `runserver` serves ASGI (HTTP and websockets).
    "daphne",
    # The admin's theme (docs/decisions.md, "theme"): before Django's admin so its templates
    # win. BasicAppConfig leaves `admin.site` alone; our AnvilAdminConfig makes it ours.
    "unfold.apps.BasicAppConfig",
    # Django (the admin with anvil_voice.admin_site.AnvilAdminSite as `admin.site`)
    "anvil_voice.admin_apps.AnvilAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Third party
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files, no CDN
    "channels",
    "storages",
    # Platform
    "anvil_voice.accounts",
    "anvil_voice.telephony",
    # Resources
    "voices",
    "scripts",
    "campaigns",
    "sessions.apps.SessionsConfig",
    "anvil_voice.webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "anvil_voice.api.middleware.ApiEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "anvil_voice.urls"

# The admin theme (django-unfold). Navigation and styles are callables in
# anvil_voice.admin_site: the sidebar lists, in workflow order, only what the user may see.
UNFOLD = {
    "SITE_TITLE": "Anvil Voice",
    "SITE_HEADER": "Anvil Voice",
    "SITE_SUBHEADER": "AI phone campaigns",
    "SITE_SYMBOL": "support_agent",
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": "anvil_voice.admin_site.favicon"}
    ],
    "SITE_URL": "/admin/",
    "SHOW_VIEW_ON_SITE": True,
    "BORDER_RADIUS": "6px",
    "COLORS": {
        # The favicon's slate blue, in Tailwind's 50-950 steps.
        "primary": {
            "50": "#eef6f9",
            "100": "#d5e8ef",
            "200": "#aed2df",
            "300": "#7db4c9",
            "400": "#4f93ad",
            "500": "#367791",
            "600": "#2c6079",
            "700": "#264b5d",
            "800": "#213f4e",
            "900": "#1d3542",
            "950": "#10212b",
        },
    },
    "STYLES": ["anvil_voice.admin_site.stylesheets"],
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "anvil_voice.admin_site.sidebar_navigation",
    },
}
ASGI_APPLICATION = "anvil_voice.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# HTTP requests run on this many threads per process (anvil_voice/http_handler.py), each keeping
# its database connection between requests: it bounds the connections a web process holds.
HTTP_WORKER_THREADS = env.get_int("HTTP_WORKER_THREADS", 8, minimum=1)
if DATABASE_URL:
    # psycopg's connection pool (issue 18), for production (`DATABASE_POOL=1`: docs/operations.md;
    # `make run-cluster` and the container set it): a connection is checked out for a request, a
    # task or a consumer's database call and returned at its end, whatever thread ran it — safe
    # under ASGI, where a kept connection per thread would pile up. Django requires
    # CONN_MAX_AGE=0 with a pool. The pool's size is per process: the HTTP worker threads, the
    # Channels sync thread and a margin. Off by default: the test suite's many short-lived
    # threads each hold a pooled connection until they end (the PostgreSQL pass ran ~20 % slower).
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    }
    if env.get_bool("DATABASE_POOL", False):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.get_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0),
            "max_size": env.get_int("DATABASE_POOL_MAX_SIZE", HTTP_WORKER_THREADS + 4, minimum=1),
            "timeout": env.get_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # the pool checks on checkout
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            # Kept open between requests: every thread that reaches the database is bounded
            # (the HTTP workers, Channels' sync thread, the worker's), so connections cannot
            # pile up, and opening one (with its PRAGMAs) costs more than a small query.
            "CONN_MAX_AGE": env.get_int("SQLITE_CONN_MAX_AGE", 300, minimum=0),
            # Several processes (server, worker, beat) share the file: wait for locks instead
            # of failing, and use WAL so readers never block the writer.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, Celery ---------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.get_str("CACHE_KEY_PREFIX", "anvil"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, shorter than the
                # blocking pop every consumer waits on: each idle websocket (the live monitor,
                # a Media Stream between messages) would crash after 5 s
                # (django/channels_redis#422). The pop has its own server-side timeout.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env.get_str("CHANNEL_PREFIX", "anvil"),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.get_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL == "filesystem://":
    # kombu's filesystem transport needs no server: the embedded default's worker and beat
    # exchange messages through these folders. Our subclass writes each message atomically:
    # kombu's own can hand a reader an empty file, which killed the worker (issue 15).
    CELERY_BROKER_TRANSPORT = "anvil_voice.celery_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.get_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# --- Files --------------------------------------------------------------------------------
MEDIA_ROOT = Path(env.get_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

AWS_STORAGE_BUCKET_NAME = env.get_str("AWS_STORAGE_BUCKET_NAME")
_static_storage = {
    "BACKEND": (
        "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
}
if AWS_STORAGE_BUCKET_NAME:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "endpoint_url": env.get_url("AWS_S3_ENDPOINT_URL", schemes=("http", "https"))
                or None,
                "region_name": env.get_str("AWS_S3_REGION_NAME") or None,
                "access_key": env.get_str("AWS_ACCESS_KEY_ID") or None,
                "secret_key": env.get_str("AWS_SECRET_ACCESS_KEY") or None,
                # Private objects, signed URLs that expire, and keys that are never overwritten.
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": env.get_int("AWS_QUERYSTRING_EXPIRE", 3600, minimum=1),
                "file_overwrite": False,
                "addressing_style": env.get_str("AWS_S3_ADDRESSING_STYLE", "path"),
                "signature_version": "s3v4",
            },
        },
        "staticfiles": _static_storage,
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": _static_storage,
    }

# --- Auth, i18n ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "/admin/login/"
CSRF_FAILURE_VIEW = "anvil_voice.api.middleware.csrf_failure"

# --- API ----------------------------------------------------------------------------------
API_RATE_LIMIT = env.get_str("API_RATE_LIMIT", "200/m")
# `POST /calls/test` per organization (django-ratelimit rate).
TEST_CALL_RATE_LIMIT = env.get_str("TEST_CALL_RATE_LIMIT", "10/h")
# Every request of an organization's keys and members also counts against one budget for the
# organization (issue 15, item 15): more keys must not mean more requests.
API_ORGANIZATION_RATE_LIMIT = env.get_str("API_ORGANIZATION_RATE_LIMIT", API_RATE_LIMIT)
# How long an API key (with its organization) is kept in the cache between requests; revoking
# it, or changing it or its organization, drops it at once (accounts/signals.py).
API_KEY_CACHE_SECONDS = env.get_int("API_KEY_CACHE_SECONDS", 300, minimum=0)
# Active (unrevoked) API keys an organization may hold; issuing one more answers 409 CONFLICT.
API_KEYS_MAX_ACTIVE_PER_ORGANIZATION = env.get_int(
    "API_KEYS_MAX_ACTIVE_PER_ORGANIZATION", 20, minimum=1
)
# JSON bodies above this answer 413; multipart voice uploads have their own, larger cap.
API_MAX_JSON_BODY_BYTES = env.get_int("API_MAX_JSON_BODY_BYTES", 1024 * 1024, minimum=1024)
# Arrays and objects nested deeper than this are refused before parsing (ours nest 3 or 4
# levels; a few thousand made the recursive parser fail with a 500).
API_MAX_JSON_DEPTH = env.get_int("API_MAX_JSON_DEPTH", 32, minimum=8)
VOICE_SAMPLE_MAX_BYTES = env.get_int("VOICE_SAMPLE_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
VOICE_SAMPLES_MAX_TOTAL_BYTES = env.get_int("VOICE_SAMPLES_MAX_TOTAL_BYTES", 50 * 1024 * 1024)
# Total speech a clone's samples must hold; about 30 s already gives a usable ElevenLabs clone.
VOICE_SAMPLES_MIN_SECONDS = env.get_int("VOICE_SAMPLES_MIN_SECONDS", 10, minimum=1)
VOICE_SAMPLES_MAX_SECONDS = env.get_int("VOICE_SAMPLES_MAX_SECONDS", 600, minimum=1)
# Decoding cost is rate x channels x seconds, whatever the file's size: a 400 KB FLAC can declare
# 655 350 Hz x 8 channels. Speech needs neither; a clone is made from mono or stereo <= 48 kHz.
VOICE_SAMPLE_MAX_SAMPLE_RATE = env.get_int("VOICE_SAMPLE_MAX_SAMPLE_RATE", 48_000, minimum=8000)
VOICE_SAMPLE_MAX_CHANNELS = env.get_int("VOICE_SAMPLE_MAX_CHANNELS", 2, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_JSON_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
RATELIMIT_USE_CACHE = "default"
RATELIMIT_ENABLE = env.get_bool("RATELIMIT_ENABLE", True)
# A cache outage should not take the whole API down with it: the limit fails open.
RATELIMIT_FAIL_OPEN = True
# --- Client addresses and admin sign-in throttling (issue 15, items 9 and 10) --------------
# How many reverse proxies stand in front of the app, each appending the address it saw to
# TRUSTED_PROXY_HEADER. 0 (the default) trusts no header: the per-IP limits count REMOTE_ADDR,
# and a client cannot pick its own bucket by sending the header itself.
TRUSTED_PROXY_COUNT = env.get_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
TRUSTED_PROXY_HEADER = env.get_str("TRUSTED_PROXY_HEADER", "X-Forwarded-For")
# Admin sign-in (anvil_voice.accounts.login_throttle), counted in the cache: an account refuses
# passwords for ADMIN_LOGIN_LOCKOUT_SECONDS once it has had that many failures from any address
# in one such window, except from a browser that has signed in to it before; an address is
# refused the same way after ADMIN_LOGIN_MAX_FAILURES_PER_IP failures on any accounts.
ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT = env.get_int(
    "ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT", 10, minimum=1
)
ADMIN_LOGIN_MAX_FAILURES_PER_IP = env.get_int("ADMIN_LOGIN_MAX_FAILURES_PER_IP", 30, minimum=1)
ADMIN_LOGIN_LOCKOUT_SECONDS = env.get_int("ADMIN_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# How long a browser that signed in stays exempt from its account's lockout.
ADMIN_LOGIN_TRUSTED_BROWSER_DAYS = env.get_int("ADMIN_LOGIN_TRUSTED_BROWSER_DAYS", 90, minimum=1)
# --- end of client addresses and admin sign-in throttling ----------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "anvil_voice.accounts.authentication.ApiKeyAuthentication",
        "anvil_voice.accounts.authentication.OrganizationSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["anvil_voice.accounts.permissions.IsOrganizationMember"],
    "DEFAULT_RENDERER_CLASSES": [
        "anvil_voice.api.renderers.EnvelopeJSONRenderer",
        "anvil_voice.api.renderers.EnvelopeBrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "anvil_voice.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["anvil_voice.api.ratelimit.ApiRateLimit"],
    "DEFAULT_PAGINATION_CLASS": "anvil_voice.api.pagination.KeysetCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["anvil_voice.api.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "anvil_voice.api.exceptions.envelope_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NON_FIELD_ERRORS_KEY": "nonFieldErrors",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Anvil Voice API",
    "DESCRIPTION": (
        "AI phone calls: cloned voices, scripts, scheduled campaigns and per-call sessions. "
        "Every response is wrapped in the standard envelope."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/voice",
    # The docs pages load their JavaScript, CSS and favicon from our own static files
    # (drf-spectacular-sidecar, pinned in uv.lock): they work offline and trust no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "anvil_voice.api.schema.envelope_postprocessing_hook",
    ],
    # Several resources have a "status"; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "VoiceStatusEnum": "voices.models.VoiceStatus",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "CampaignContactStateEnum": "campaigns.models.CampaignContactState",
        "CallStatusEnum": "sessions.models.CallStatus",
        "OutcomeEnum": "sessions.models.Outcome",
        "RoleEnum": "anvil_voice.accounts.models.Role",
        "DiallingStateEnum": "campaigns.selectors.DIALLING_STATES",
        "DiallingReasonEnum": "campaigns.selectors.DIALLING_REASONS",
        # A script tool's type and a session tool call's kind: builtin or http.
        "ToolKindEnum": "scripts.engine.tools.TOOL_KINDS",
        "SessionKindEnum": "sessions.models.SessionKind",
    },
}

# --- Telephony ----------------------------------------------------------------------------
TWILIO_ACCOUNT_SID = env.get_str("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
# The simulator signs with this token. It is public (it is written here), so it stands in for
# TWILIO_AUTH_TOKEN only while DEBUG is on; with DEBUG off a real token is required, as
# SECRET_KEY is, and the signature check refuses this one whatever the settings say.
TWILIO_SIMULATOR_AUTH_TOKEN = "embedded-simulator-auth-token"
TWILIO_AUTH_TOKEN = env.get_str("TWILIO_AUTH_TOKEN") or (
    TWILIO_SIMULATOR_AUTH_TOKEN if DEBUG else ""
)
TWILIO_AUTH_TOKEN_SECONDARY = env.get_str("TWILIO_AUTH_TOKEN_SECONDARY")
if not DEBUG and not TWILIO_AUTH_TOKEN:
    raise ImproperlyConfigured(
        "TWILIO_AUTH_TOKEN must be set when DEBUG is off: it authenticates calls to Twilio and "
        "checks the signature of every callback."
    )
if not DEBUG and TWILIO_SIMULATOR_AUTH_TOKEN in (TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_SECONDARY):
    raise ImproperlyConfigured(
        "TWILIO_AUTH_TOKEN and TWILIO_AUTH_TOKEN_SECONDARY must not be the Twilio simulator's "
        "public token when DEBUG is off: anyone could sign callbacks with it."
    )
# Points the real SDK at the Twilio simulator; empty means api.twilio.com.
TWILIO_API_BASE_URL = env.get_url(
    "TWILIO_API_BASE_URL",
    "http://127.0.0.1:8010" if EMBEDDED else "",
    schemes=("http", "https"),
)
TWILIO_SIMULATOR_PORT = env.get_int("TWILIO_SIMULATOR_PORT", 8010, minimum=1)
# `public=local` URL prefixes, comma-separated: where `manage.py twilio_simulator` connects
# instead of the URL the TwiML names. Empty derives them from PUBLIC_BASE_URL.
TWILIO_SIMULATOR_URL_REWRITES: list[tuple[str, str]] = []
for _rewrite in env.get_list("TWILIO_SIMULATOR_URL_REWRITES"):
    _public, _sep, _local = _rewrite.partition("=")
    if not (_public.strip() and _sep and _local.strip()):
        raise ImproperlyConfigured("TWILIO_SIMULATOR_URL_REWRITES items must be 'public=local'.")
    TWILIO_SIMULATOR_URL_REWRITES.append((_public.strip(), _local.strip()))

# --- Telephony: carrier adapter, webhooks, call placement (issue 5) ------------------------
CARRIER_BACKEND = env.get_str("CARRIER_BACKEND", "anvil_voice.telephony.twilio.TwilioCarrier")
# What placement asks right before the carrier dials (sessions.carrier.dial_gate.DialGate): the
# campaigns app's compliance re-check and calls-per-second slot.
DIAL_GATE = env.get_str("DIAL_GATE", "campaigns.dialling.gate.CampaignDialGate")
# Ring time before Twilio gives up with no-answer; Twilio recommends at least 15 s.
TWILIO_CALL_TIMEOUT_SECONDS = env.get_int("TWILIO_CALL_TIMEOUT_SECONDS", 30, minimum=15)
# Hard cap on a call's length, enforced by Twilio even if our side misbehaves.
TWILIO_TIME_LIMIT_SECONDS = env.get_int("TWILIO_TIME_LIMIT_SECONDS", 900, minimum=1)
# Async answering-machine detection (DetectMessageEnd when the campaign leaves a message).
TWILIO_MACHINE_DETECTION = env.get_bool("TWILIO_MACHINE_DETECTION", True)
# REST timeout. A create that times out is reconciled (looked up), never blindly retried.
TWILIO_HTTP_TIMEOUT_SECONDS: float = float(
    env.get_int("TWILIO_HTTP_TIMEOUT_SECONDS", 10, minimum=1)
)
# Clock skew allowed between us and Twilio when matching a call during reconciliation.
TWILIO_RECONCILE_SKEW_SECONDS = env.get_int("TWILIO_RECONCILE_SKEW_SECONDS", 10, minimum=0)
# A placed session without a call id this old is reconciled by the sweep (worker died mid-way).
# Its floor is three REST timeouts (30 s by default): a create still waiting for its answer is
# never taken for a dead worker's (the sweep would fail its session as unconfirmed).
CALL_PLACEMENT_STUCK_SECONDS = env.get_int(
    "CALL_PLACEMENT_STUCK_SECONDS", 120, minimum=3 * int(TWILIO_HTTP_TIMEOUT_SECONDS)
)
# How often beat runs the sessions' sweeps (this one, and the abandoned conversations' below).
# A minute in production; the cluster test (tests/resilience/test_resilience_cluster.py) runs
# them every few seconds so what a killed process left is recovered within its budget.
SESSIONS_SWEEP_SECONDS = env.get_int("SESSIONS_SWEEP_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE["sessions-reconcile-stuck"] = {
    "task": "sessions.tasks.session_reconcile_stuck_task",
    "schedule": float(SESSIONS_SWEEP_SECONDS),
}
# The live speech pipeline on every answered call's Media Stream (sessions.live.consumer). Off, the
# stream is only recorded (start/stop) and the carrier alone decides the outcome.
CALL_PIPELINE = env.get_bool("CALL_PIPELINE", True)
# The Media Stream's consumer class (sessions.live.routing): the live call, or a subclass of it
# (the media-server benchmark names one that echoes every frame, to time the round trip).
MEDIA_STREAM_CONSUMER = env.get_str(
    "MEDIA_STREAM_CONSUMER", "sessions.live.consumer.LiveCallConsumer"
)
# The agent says goodbye and hangs up after this long (Twilio's time limit is the hard stop).
CALL_MAX_DURATION_SECONDS = env.get_int("CALL_MAX_DURATION_SECONDS", 600, minimum=30)
# A voice that sends no audio for a sentence this long, or a recogniser that takes this long
# for an utterance, fails the turn (the agent apologises or says goodbye).
CALL_TTS_TIMEOUT_SECONDS = env.get_int("CALL_TTS_TIMEOUT_SECONDS", 5, minimum=1)
CALL_STT_TIMEOUT_SECONDS = env.get_int("CALL_STT_TIMEOUT_SECONDS", 8, minimum=1)
# When the caller hangs up, how long recognition already under way gets to finish (and the agent
# to decide on it: an opt-out said on the way out). Keep it plus the sink's 5 s under Daphne's
# 10 s application close timeout.
CALL_HANGUP_GRACE_SECONDS = env.get_int("CALL_HANGUP_GRACE_SECONDS", 4, minimum=0)
# Turn detection on live calls (docs/decisions.md): "semantic" (the default: energy VAD, the
# end of a turn judged on the words recognised at a pause, backchannel-aware barge-in),
# "neural" (Silero VAD + Smart Turn v3.2 + the same barge-in policy) or "energy" (energy VAD +
# a fixed 600 ms silence, barge-in on any speech: the old behaviour).
CALL_TURN_DETECTION = env.get_str("CALL_TURN_DETECTION", "semantic")
if CALL_TURN_DETECTION not in ("semantic", "energy", "neural"):
    raise ImproperlyConfigured("CALL_TURN_DETECTION must be 'semantic', 'energy' or 'neural'.")
# A conversation whose web process died (killed, OOM) never closes itself: this long after the
# carrier ended its call, the sweep closes it ("conversation_lost") so the session finishes and
# its campaign contact moves on. Longer than a live consumer's own close takes (the hang-up
# grace, then a few seconds for the sink), so a slow close is never pre-empted.
CALL_CONVERSATION_ABANDONED_SECONDS = env.get_int(
    "CALL_CONVERSATION_ABANDONED_SECONDS", 120, minimum=CALL_HANGUP_GRACE_SECONDS + 10
)
CELERY_BEAT_SCHEDULE["sessions-close-abandoned-conversations"] = {
    "task": "sessions.tasks.session_close_abandoned_conversations_task",
    "schedule": float(SESSIONS_SWEEP_SECONDS),
}
# Webhook and Media Stream tests run the ASGI app in a server thread and race placements on
# purpose: they need a test database that several connections share with real locking.
# SQLite's default in-memory test database (shared cache) fails with "database table is
# locked" instead of waiting, so tests use a per-process file (deleted when the run ends).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault(
        "TEST",
        {"NAME": str(Path(tempfile.gettempdir()) / f"anvil-voice-test-{os.getpid()}.sqlite3")},
    )

# --- Campaigns and the dialler (campaigns app) --------------------------------------------
# Numbers without a country code are read in this region; E.164 is what gets stored.
CAMPAIGNS_DEFAULT_REGION = env.get_str("CAMPAIGNS_DEFAULT_REGION", "US")
# The zone of a contact whose number maps to no zone and whose row names none.
CAMPAIGNS_DEFAULT_TIME_ZONE = env.get_str("CAMPAIGNS_DEFAULT_TIME_ZONE", "America/New_York")
# The carrier account's calls-per-second cap, shared by every campaign and dispatcher
# (Twilio's default is 1 CPS per account; raise it to what the account is provisioned for).
# A campaign's own CPS may not exceed it.
CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = env.get_int(
    "CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND", 10, minimum=1
)
CAMPAIGNS_MAX_CONCURRENT_CALLS = env.get_int("CAMPAIGNS_MAX_CONCURRENT_CALLS", 500, minimum=1)
# A CSV import's header line and column count (issue 15, item 4): a 700 KB header of 350 000
# columns cost 53 s of CPU. Files above either are refused before the header is resolved.
CONTACT_IMPORT_MAX_COLUMNS = env.get_int("CONTACT_IMPORT_MAX_COLUMNS", 200, minimum=10)
CONTACT_IMPORT_MAX_HEADER_CHARS = env.get_int(
    "CONTACT_IMPORT_MAX_HEADER_CHARS", 64 * 1024, minimum=1024
)
# "simulator": any +1 NXX 555 01xx number may be a caller ID (the simulator's fictional range);
# "twilio": the number must be one of the Twilio account's incoming numbers.
CAMPAIGNS_CALLER_ID_CHECK = env.get_str(
    "CAMPAIGNS_CALLER_ID_CHECK",
    "twilio" if not TWILIO_API_BASE_URL and TWILIO_ACCOUNT_SID != "AC" + "0" * 32 else "simulator",
)
if CAMPAIGNS_CALLER_ID_CHECK not in {"simulator", "twilio"}:
    raise ImproperlyConfigured("CAMPAIGNS_CALLER_ID_CHECK must be 'simulator' or 'twilio'.")
# The dispatcher runs every second (Celery beat); a tick that waited longer than that in the
# queue is dropped rather than run late, since the next one is already due.
CELERY_BEAT_SCHEDULE["campaigns-dispatch"] = {
    "task": "campaigns.tasks.dispatch_campaigns",
    "schedule": 1.0,
    "options": {"expires": 1.0},
}
# A session finished but its outcome never reached the contact (the process died between the
# two commits): applied late by this sweep instead of leaving the contact in progress.
CELERY_BEAT_SCHEDULE["campaigns-apply-missed-outcomes"] = {
    "task": "campaigns.tasks.apply_missed_outcomes",
    "schedule": 60.0,
}
# --- end of the campaigns block -----------------------------------------------------------

# --- Customer webhooks --------------------------------------------------------------------
# Plain http to localhost for webhook URLs (the embedded default); https only otherwise.
WEBHOOKS_ALLOW_HTTP_LOCALHOST = env.get_bool("WEBHOOKS_ALLOW_HTTP_LOCALHOST", default=DEBUG)
# Each retry is its own delayed message; one lost with the broker is re-sent by this sweep
# (the shortest backoff is a minute, so is the period).
CELERY_BEAT_SCHEDULE["webhooks-retry-due"] = {
    "task": "anvil_voice.webhooks.tasks.webhook_retry_due_task",
    "schedule": 60.0,
}

# --- Speech -------------------------------------------------------------------------------
SPEECH_PROVIDER = env.get_str("SPEECH_PROVIDER", "local")
if SPEECH_PROVIDER not in {"local", "cloud"}:
    raise ImproperlyConfigured("SPEECH_PROVIDER must be 'local' or 'cloud'.")
AGENT_PROVIDER = env.get_str("AGENT_PROVIDER", "scripted")
if AGENT_PROVIDER not in {"scripted", "llm"}:
    raise ImproperlyConfigured("AGENT_PROVIDER must be 'scripted' or 'llm'.")
ELEVENLABS_API_KEY = env.get_str("ELEVENLABS_API_KEY")
ELEVENLABS_BASE_URL = env.get_url("ELEVENLABS_BASE_URL", "https://api.elevenlabs.io")
DEEPGRAM_API_KEY = env.get_str("DEEPGRAM_API_KEY")
DEEPGRAM_URL = env.get_url("DEEPGRAM_URL", "wss://api.deepgram.com/v1/listen")
LLM_BASE_URL = env.get_url("LLM_BASE_URL", "https://api.openai.com")
# Local speech models (Whisper, Piper, Smart Turn) run on one prioritised executor per process
# (anvil_voice.speech.inference): this many jobs at once, each model using this many intra-op
# threads. 0 = derived from the cores this process may use: one worker per core, cores //
# workers threads each, so workers x threads never oversubscribes the box (docs/decisions.md).
# Django-free code reads them, so the executor parses the same variables with the same `Env`;
# they are declared here so a malformed value fails at start-up.
SPEECH_INFERENCE_WORKERS = env.get_int("SPEECH_INFERENCE_WORKERS", 0, minimum=0)
SPEECH_MODEL_THREADS = env.get_int("SPEECH_MODEL_THREADS", 0, minimum=0)
LLM_API_KEY = env.get_str("LLM_API_KEY")
LLM_MODEL = env.get_str("LLM_MODEL", "gpt-4o-mini")
# Synthesised lines kept per process for live calls (anvil_voice.speech.cache), in bytes of
# 8 kHz mu-law: 64 MB is about 45 minutes of speech. 0 keeps nothing (lines still stream).
TTS_CACHE_BYTES = env.get_int("TTS_CACHE_BYTES", 64 * 1024 * 1024, minimum=0)
# Live-call capacity (anvil_voice/capacity.py, docs/decisions.md): the dialler never has more
# calls live (queued to be placed, ringing or talking) than LIVE_CALL_CAPACITY_PER_PROCESS x
# LIVE_CALL_PROCESSES, across every campaign, callback and test call; the rest wait queued.
# - LIVE_CALL_CAPACITY_PER_PROCESS: calls one media-stream (ASGI) process holds. Default with
#   local speech: the cores this process may use x LOCAL_SPEECH_CALLS_PER_CORE (speech runs on
#   our CPU and degrades every call past it); with cloud speech a fixed 50 (the providers'
#   concurrent-stream limits bind first).
# - LIVE_CALL_PROCESSES: how many such processes the deployment runs (each on its own cores).
LOCAL_SPEECH_CALLS_PER_CORE, LIVE_CALL_CAPACITY_PER_PROCESS, LIVE_CALL_PROCESSES = (
    live_call_capacity(
        env, speech_provider=SPEECH_PROVIDER, usable_cores=len(os.sched_getaffinity(0))
    )
)

# --- Production hardening -----------------------------------------------------------------
# On unless DEBUG; test runs against PostgreSQL set HTTPS_ONLY=0 because the test client speaks
# plain HTTP.
HTTPS_ONLY = env.get_bool("HTTPS_ONLY", default=not DEBUG)
if HTTPS_ONLY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "kv": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}},
    "root": {"handlers": ["console"], "level": env.get_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.channels.server": {"level": "WARNING"},
    },
}

# --- Cost per call (issue 19 part 3) ----------------------------------------------------------
# The price table (`anvil_voice.pricing`: defaults, units, how to override) and its currency.
COST_CURRENCY = env.get_str("COST_CURRENCY", "USD").upper()
if len(COST_CURRENCY) != 3 or not COST_CURRENCY.isalpha():
    raise ImproperlyConfigured("COST_CURRENCY must be a three-letter currency code.")
try:
    COST_PRICES = parse_prices(env.get_str("COST_PRICES_JSON", ""))
except PriceTableError as error:
    raise ImproperlyConfigured(str(error)) from error
# A campaign with a budget dials at half pace once it has spent this share (percent) of it,
# and pauses when it has spent all of it (`campaigns.costs`).
CAMPAIGNS_BUDGET_SLOW_PERCENT = env.get_int("CAMPAIGNS_BUDGET_SLOW_PERCENT", 90, minimum=1)
if CAMPAIGNS_BUDGET_SLOW_PERCENT > 100:
    raise ImproperlyConfigured("CAMPAIGNS_BUDGET_SLOW_PERCENT is a percentage (1-100).")
# Outcomes that count as a success in "cost per success" (`GET /campaigns/:id/costs`).
CAMPAIGNS_SUCCESS_OUTCOMES = env.get_list(
    "CAMPAIGNS_SUCCESS_OUTCOMES", ["interested", "transferred"]
)
