# Anvil Voice's production image: one image, three entry commands (web, worker, beat), built
# from uv.lock. docs/operations.md says how many of each to run and with which settings.
#
#   docker build -t anvil-voice .            (or: podman build -t anvil-voice .)
#   web:     docker run anvil-voice          (the default command below; one per core)
#   worker:  docker run anvil-voice celery -A anvil_voice worker --pool=threads --concurrency=4 --loglevel=INFO
#   beat:    docker run anvil-voice celery -A anvil_voice beat --loglevel=INFO --schedule /tmp/anvil/celerybeat-schedule
#   release: docker run anvil-voice python manage.py migrate --noinput   (once per deploy, before the rest)
#
# Every container needs the production environment (.env.example): DATABASE_URL, REDIS_URL,
# SECRET_KEY, TWILIO_*, AWS_* (S3), PUBLIC_BASE_URL, ALLOWED_HOSTS, ...

FROM python:3.12-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first (their layer is reused while only our code changes); exactly uv.lock's
# versions (--frozen fails rather than re-resolving), without the dev group (tests, linters,
# SeaweedFS, Playwright).
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-install-project
COPY anvil_voice/ anvil_voice/
COPY campaigns/ campaigns/
COPY sessions/ sessions/
COPY scripts/ scripts/
COPY voices/ voices/
COPY static/ static/
COPY templates/ templates/
COPY manage.py ./
RUN uv sync --frozen --no-dev
# Static files are part of the image (WhiteNoise serves them with hashed names). Settings need
# these variables to load; nothing is connected to at build time.
RUN DEBUG=0 HTTPS_ONLY=0 SECRET_KEY=build-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    TWILIO_AUTH_TOKEN=build-only DATABASE_URL=postgres://build@127.0.0.1:5432/build \
    REDIS_URL=redis://127.0.0.1:6379/0 \
    /app/.venv/bin/python manage.py collectstatic --noinput -v0

FROM python:3.12-slim-bookworm
# A non-root user that owns nothing in /app: the code and the virtualenv are read-only to it.
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin anvil
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=anvil_voice.settings ANVIL_VAR_DIR=/tmp/anvil DATABASE_POOL=1
WORKDIR /app
USER anvil
EXPOSE 8000
# The web process: HTTP and websockets (Media Streams, the live monitor) on uvloop.
CMD ["uvicorn", "--host", "0.0.0.0", "--port", "8000", "--ws", "websockets-sansio", \
     "--lifespan", "off", "--no-access-log", "--timeout-graceful-shutdown", "30", \
     "anvil_voice.asgi:application"]
