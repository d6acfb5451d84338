# Anvil Voice: `make run` starts the whole system on the embedded default; `make test` runs
# every test. Both install what they need first (uv, then the locked virtualenv).

PYTHON ?= python3
UV := $(PYTHON) -m uv
PORT ?= 8000
VENV_PY := .venv/bin/python

.PHONY: install run run-cluster test test-cluster test-fast lint typecheck check-deploy bench clean

install:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

# The launcher migrates and seeds this instance's database itself (`var/`, or
# `var/port-<PORT>/` for another PORT): see anvil_voice/run_embedded.py.
run: install
	@PORT=$(PORT) $(VENV_PY) -m anvil_voice.run_embedded

# The production topology on this machine (docs/operations.md): PostgreSQL and Redis already
# running here, SeaweedFS as S3, 2 web processes behind a load balancer on PORT, 2 workers,
# 1 beat, the simulator. See anvil_voice/run_cluster.py for DATABASE_URL/REDIS_URL defaults.
run-cluster: install
	@PORT=$(PORT) $(VENV_PY) -m anvil_voice.run_cluster

# The test suite needs these only when DATABASE_URL/REDIS_URL are set (DEBUG then defaults off).
test: export SECRET_KEY ?= test-only-secret-key-not-for-production-0123456789abcdefghijklmn
test: export TWILIO_AUTH_TOKEN ?= test-only-twilio-auth-token-not-for-production
test: export HTTPS_ONLY ?= 0
test: install
	@$(VENV_PY) -m pytest

# The cluster test (issue 18 item 3) against this machine's PostgreSQL and Redis: not part of
# `make test` yet (see docs/operations.md, "The cluster test").
test-cluster: export SECRET_KEY ?= test-only-secret-key-not-for-production-0123456789abcdefghijklmn
test-cluster: export TWILIO_AUTH_TOKEN ?= test-only-twilio-auth-token-not-for-production
test-cluster: export HTTPS_ONLY ?= 0
test-cluster: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
test-cluster: export REDIS_URL ?= redis://127.0.0.1:6379/0
test-cluster: install
	@CLUSTER_TEST=1 $(VENV_PY) -m pytest tests/resilience/test_resilience_cluster.py

lint: install
	@$(VENV_PY) -m ruff check .
	@$(VENV_PY) -m ruff format --check .
	@.venv/bin/lint-imports --no-cache

typecheck: install
	@$(VENV_PY) -m mypy .

# Production settings must pass Django's deployment checks (dummy secrets, no services needed).
check-deploy: install
	@DEBUG=0 HTTPS_ONLY=1 \
	  SECRET_KEY=ci-dummy-$$(head -c 48 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9') \
	  DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
	  ALLOWED_HOSTS=voice.example.com PUBLIC_BASE_URL=https://voice.example.com \
	  AWS_STORAGE_BUCKET_NAME=anvil-voice TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 \
	  TWILIO_AUTH_TOKEN=dummy SPEECH_PROVIDER=cloud ELEVENLABS_API_KEY=dummy DEEPGRAM_API_KEY=dummy \
	  $(VENV_PY) manage.py check --deploy --fail-level WARNING

# Each benchmark also runs alone; commands and results are in docs/benchmarks.md.
bench: install
	@$(VENV_PY) -m benchmarks.preview
	@$(VENV_PY) -m benchmarks.voice_preview_clone
	@$(VENV_PY) -m benchmarks.import_dispatch
	@$(VENV_PY) -m benchmarks.pipeline --quick
	@$(VENV_PY) -m benchmarks.turn_taking --quick
	@$(VENV_PY) -m benchmarks.tts_cache
	@$(VENV_PY) -m benchmarks.tools
	@$(VENV_PY) -m benchmarks.transfer
	@$(VENV_PY) -m benchmarks.live_calls --quick
	@$(VENV_PY) -m benchmarks.speech_inference --quick
	@$(VENV_PY) -m benchmarks.dialler --quick
	@$(VENV_PY) -m benchmarks.dialler_fairness --quick
	@$(VENV_PY) -m benchmarks.media_servers --quick
	@$(VENV_PY) -m benchmarks.sessions_list --quick
	@$(VENV_PY) -m benchmarks.campaign_stats --quick
	@$(VENV_PY) -m benchmarks.voices_list --quick
	@$(VENV_PY) -m benchmarks.pii_redaction
	@$(VENV_PY) -m benchmarks.dtmf --trials 10
	@$(VENV_PY) -m benchmarks.ivr --trials 2
	@$(VENV_PY) -m benchmarks.listen_in
	@$(VENV_PY) -m benchmarks.api_cpu

clean:
	rm -rf var/ staticfiles/ .pytest_cache .mypy_cache .ruff_cache
