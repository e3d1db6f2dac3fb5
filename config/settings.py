"""Django settings, read from the environment (and an optional ``.env``) in this one place.

With nothing set, everything runs embedded under ``RAWPROC_DATA_DIR``: SQLite, files on
disk served through app-signed URLs and a file-system Celery broker, so one laptop needs
no server. Setting ``DATABASE_URL``, ``REDIS_URL`` and ``AWS_BUCKET_NAME`` moves the same
code onto PostgreSQL, Redis and any S3-compatible store. Every variable is documented in
``docs/configuration.md`` and ``.env.example``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from rawproc.imaging.specs import (
    BUILTIN,
    DEFAULT_SPECS,
    SPEC_FORMATS,
    RenditionSpec,
    key_name,
    parse_rendition,
    parse_spec_text,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_dotenv = Path(os.environ.get("RAWPROC_ENV_FILE", Path.cwd() / ".env"))
if _dotenv.is_file():
    env.read_env(str(_dotenv), overwrite=False)

DATA_DIR = Path(env.str("RAWPROC_DATA_DIR", default="data")).expanduser().resolve()


DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# --- Secret key (no side effects at import) -------------------------------------------
# Production is DEBUG off with a real host name in ALLOWED_HOSTS: every machine must then be
# given the same SECRET_KEY, and a missing one stops the process here. A development setup
# uses the key kept in the data folder, which `rawproc serve` and `manage.py migrate` create
# (rawproc.bootstrap); importing the settings only reads it.
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}
RAWPROC_PRODUCTION = not DEBUG and any(h not in _LOOPBACK for h in ALLOWED_HOSTS)
RAWPROC_SECRET_KEY_FILE = DATA_DIR / "secret_key"


def _secret_key() -> str:
    key: str = env.str("SECRET_KEY", default="")
    if key:
        return key
    if RAWPROC_PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off and ALLOWED_HOSTS naming "
            f"{', '.join(h for h in ALLOWED_HOSTS if h not in _LOOPBACK)}, every API and worker "
            "machine must be given the same SECRET_KEY (it signs sessions and file URLs); "
            "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    try:
        return RAWPROC_SECRET_KEY_FILE.read_text().strip()
    except FileNotFoundError:
        # Until `migrate` or `rawproc serve` writes the key file: a key for this process only.
        return secrets.token_urlsafe(50)


SECRET_KEY = _secret_key()
# --- end of secret key ----------------------------------------------------------------
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "corsheaders",
    "axes",
    "rawproc.apps.RawprocConfig",
    "rawproc.webhooks.apps.WebhooksConfig",
]

MIDDLEWARE = [
    # Before anything reads X-Forwarded-Proto (SecurityMiddleware's redirect, is_secure()).
    "rawproc.middleware.proxies.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that answers early, so refusals carry the CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    # Outside the request limits, so that their refusals get these headers too.
    "csp.middleware.CSPMiddleware",
    "rawproc.middleware.cache_control.NoStoreMiddleware",
    # Before the CSRF check, the first to read a form body.
    "rawproc.middleware.request_limits.RequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The API and the workers write at the same time: WAL plus IMMEDIATE transactions avoid
    # "database is locked" errors on upgrade from a read to a write lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 30}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The library's home zone: camera times recorded without a zone are read in it.
TIME_ZONE = env.str("RAWPROC_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Object storage -------------------------------------------------------------------
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="") or None
# Where clients reach the store when the servers use another address (a compose network).
AWS_S3_PUBLIC_ENDPOINT_URL = env.str("AWS_S3_PUBLIC_ENDPOINT_URL", default="") or None

RAWPROC_URL_EXPIRY_SECONDS = env.int("RAWPROC_URL_EXPIRY_SECONDS", default=900)
RAWPROC_UPLOAD_URL_EXPIRY_SECONDS = env.int("RAWPROC_UPLOAD_URL_EXPIRY_SECONDS", default=3600)

if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "rawproc.s3.PublicEndpointS3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "access_key": AWS_ACCESS_KEY_ID or None,
            "secret_key": AWS_SECRET_ACCESS_KEY or None,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "public_endpoint_url": AWS_S3_PUBLIC_ENDPOINT_URL,
            "region_name": AWS_S3_REGION_NAME,
            "addressing_style": AWS_S3_ADDRESSING_STYLE,
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": RAWPROC_URL_EXPIRY_SECONDS,
            "file_overwrite": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media"), "allow_overwrite": True},
    }
STORAGES: dict[str, dict[str, Any]] = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_URL = "static/"
# Created by `collectstatic` (which `rawproc serve` runs), never at import.
STATIC_ROOT = Path(env.str("RAWPROC_STATIC_ROOT", default=str(DATA_DIR / "static")))

# --- Uploads and processing -----------------------------------------------------------
RAWPROC_MAX_UPLOAD_BYTES = env.int("RAWPROC_MAX_UPLOAD_BYTES", default=300 * 1024 * 1024)
# Larger multipart bodies spill to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env.str("RAWPROC_UPLOAD_TEMP_DIR", default="") or None
FILE_UPLOAD_HANDLERS = ["rawproc.api.uploads.SizeLimitedUploadHandler"]


def _parse_renditions(text: str) -> tuple[RenditionSpec, ...]:
    specs = tuple(parse_rendition(item, BUILTIN) for item in text.split(",") if item.strip())
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"RAWPROC_RENDITIONS names a rendition twice: {text!r}")
    keys = [spec.key for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"RAWPROC_RENDITIONS lists the same spec twice: {text!r}")
    return specs


def _parse_sizes(text: str) -> tuple[int | None, ...]:
    sizes = tuple(parse_spec_text(item).size for item in text.split(",") if item.strip())
    if not sizes:
        raise ValueError("RAWPROC_RENDITION_SIZES lists no size")
    return sizes


# The renditions every asset gets when it is processed (spec strings and aliases, see
# docs/configuration.md), and the aliases the API and the CLI know: the built-in names,
# as configured here when they are.
_renditions_text = env.str("RAWPROC_RENDITIONS", default="")
RAWPROC_RENDITIONS: tuple[RenditionSpec, ...] = (
    _parse_renditions(_renditions_text) if _renditions_text else DEFAULT_SPECS
)
if env.bool("RAWPROC_FULL_RENDITION", default=False) and "full" not in {
    spec.name for spec in RAWPROC_RENDITIONS
}:
    RAWPROC_RENDITIONS = (*RAWPROC_RENDITIONS, BUILTIN["full"])
RAWPROC_RENDITION_ALIASES: dict[str, RenditionSpec] = {
    **BUILTIN,
    **{spec.name: spec for spec in RAWPROC_RENDITIONS if spec.name != key_name(spec.key)},
}
# What clients may ask for on demand (``/renditions/{spec}/``); aliases are always allowed.
RAWPROC_RENDITION_SIZES: tuple[int | None, ...] = _parse_sizes(
    env.str("RAWPROC_RENDITION_SIZES", default="160,320,640,1080,1440,2048,3840,full")
)
RAWPROC_RENDITION_FORMATS: tuple[str, ...] = tuple(
    item.strip()
    for item in env.str("RAWPROC_RENDITION_FORMATS", default=",".join(SPEC_FORMATS)).split(",")
    if item.strip()
)
if not RAWPROC_RENDITION_FORMATS or not set(RAWPROC_RENDITION_FORMATS) <= set(SPEC_FORMATS):
    raise ValueError(f"RAWPROC_RENDITION_FORMATS must list formats of {', '.join(SPEC_FORMATS)}")
# A rendition derived from a stored one of at most this many pixels is made in the web
# request itself; larger sources, and renditions from the original, go to a worker.
RAWPROC_RENDITION_INLINE_MAX_PIXELS = env.int(
    "RAWPROC_RENDITION_INLINE_MAX_PIXELS", default=4_200_000
)
RAWPROC_FORCE_SENSOR = env.bool("RAWPROC_FORCE_SENSOR", default=False)
RAWPROC_MAX_PIXELS = env.int("RAWPROC_MAX_PIXELS", default=250_000_000)
RAWPROC_COPY_EXIF = env.bool("RAWPROC_COPY_EXIF", default=False)
RAWPROC_STRIP_GPS = env.bool("RAWPROC_STRIP_GPS", default=True)

# Worker behaviour. A task past the soft limit fails its asset with ``processing_timeout``;
# the hard limit kills the worker child as a last resort.
RAWPROC_TASK_SOFT_TIME_LIMIT = env.int("RAWPROC_TASK_SOFT_TIME_LIMIT", default=300)
RAWPROC_TASK_HARD_TIME_LIMIT = env.int("RAWPROC_TASK_HARD_TIME_LIMIT", default=360)
RAWPROC_TASK_MAX_RETRIES = env.int("RAWPROC_TASK_MAX_RETRIES", default=5)
RAWPROC_RETRY_BACKOFF_MAX = env.int("RAWPROC_RETRY_BACKOFF_MAX", default=120)
RAWPROC_MAX_CRASHES = env.int("RAWPROC_MAX_CRASHES", default=3)
# Test-only: a worker aborts, as a native decoder crash would, on a file whose first
# 64 KiB contain this text. Never set in production.
RAWPROC_TEST_CRASH_MARKER: bytes | None = (
    env.str("RAWPROC_TEST_CRASH_MARKER", default="").encode() or None
)
RAWPROC_STALE_QUEUED_SECONDS = env.int("RAWPROC_STALE_QUEUED_SECONDS", default=600)
RAWPROC_STALE_SWEEP_SECONDS = env.int("RAWPROC_STALE_SWEEP_SECONDS", default=60)
RAWPROC_DECODE_QUEUE = env.str("RAWPROC_DECODE_QUEUE", default="rawproc.decode")
RAWPROC_DEFAULT_QUEUE = env.str("RAWPROC_DEFAULT_QUEUE", default="rawproc")

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or env.str("REDIS_URL", default="")
if CELERY_BROKER_URL:
    # A message unacknowledged for this long is handed to another worker, so it must outlast
    # the longest task, including a retry countdown held by the worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int(
            "RAWPROC_VISIBILITY_TIMEOUT",
            default=max(RAWPROC_TASK_HARD_TIME_LIMIT, RAWPROC_RETRY_BACKOFF_MAX) + 60,
        ),
        # Redis: the overdue-message scan runs on every Nth check (about every N * 10 s).
        "unacked_restore_throttle": env.int("RAWPROC_UNACKED_RESTORE_THROTTLE", default=10),
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    # Created by `migrate` and `rawproc serve` (rawproc.bootstrap), never at import.
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        # Exchange tables; kombu would otherwise write them to ./control wherever it runs.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The worker looks for new messages this often (kombu's default is 1 s, which an
        # upload on an empty queue would wait for, half of it on average).
        "polling_interval": env.float("RAWPROC_BROKER_POLL_SECONDS", default=0.1),
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("RAWPROC_BROKER_TIMEOUT", default=4.0)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = RAWPROC_TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = RAWPROC_TASK_HARD_TIME_LIMIT
CELERY_TASK_DEFAULT_QUEUE = RAWPROC_DEFAULT_QUEUE
# Listed so that a plain `celery -A config worker` consumes both; `-Q` picks one.
# Each queue gets its own exchange and routing key, so a message lands in exactly one queue.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in (RAWPROC_DEFAULT_QUEUE, RAWPROC_DECODE_QUEUE)
)
CELERY_TASK_ROUTES = {
    "rawproc.process_asset": {"queue": RAWPROC_DECODE_QUEUE},
    "rawproc.render_rendition": {"queue": RAWPROC_DECODE_QUEUE},
}
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("RAWPROC_WORKER_MAX_MEMORY_KB", default=0) or None
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("RAWPROC_WORKER_MAX_TASKS_PER_CHILD", default=0) or None
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-assets": {
        "task": "rawproc.requeue_stale",
        "schedule": float(RAWPROC_STALE_SWEEP_SECONDS),
    },
}

# --- API ------------------------------------------------------------------------------
# --- Shared cache (throttling counts every API process sees) -------------------------
# Redis when RAWPROC_CACHE_URL or REDIS_URL names one (PrefixedRedisCache: its clear()
# deletes only its own keys, never FLUSHDB, so it may share the broker's database);
# otherwise the database (table rawproc_cache, created by `migrate`; rawproc.cache.DatabaseCache
# increments atomically), which every process of the embedded stack shares as well.
_redis_cache_url = env.str("RAWPROC_CACHE_URL", default="") or env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {
            "BACKEND": "rawproc.cache.PrefixedRedisCache",
            "LOCATION": _redis_cache_url,
            # Keyed by database: deployments sharing one Redis never mix their counts.
            "KEY_PREFIX": f"rawproc:{DATABASES['default']['NAME']}:cache",
        }
        if _redis_cache_url
        else {
            "BACKEND": "rawproc.cache.DatabaseCache",
            "LOCATION": "rawproc_cache",
        }
    )
}
# --- end of shared cache --------------------------------------------------------------
# Uploads per user (multipart uploads and direct-upload requests together), DRF rate syntax
# ("120/min", "2000/day"); empty turns the limit off.
RAWPROC_UPLOAD_RATE = env.str("RAWPROC_UPLOAD_RATE", default="120/min") or None
REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        "rawproc.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rawproc.api.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rawproc.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rawproc.api.pagination.AssetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "raw-processor API",
    "DESCRIPTION": "Upload camera RAW files; get metadata and web renditions behind signed URLs.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from the app's own static files: the docs work offline, no third-party script.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("RAWPROC_LOG_LEVEL", default="INFO")},
}

# --- Production hardening ------------------------------------------------------------
# HTTPS-only settings are on by default once the site is served under a real host name
# (any ALLOWED_HOSTS entry beyond loopback) and DEBUG is off; the single-machine setup on
# 127.0.0.1 speaks plain HTTP. RAWPROC_HTTPS overrides the guess either way.
RAWPROC_HTTPS = env.bool("RAWPROC_HTTPS", default=RAWPROC_PRODUCTION)
# Honoured only from RAWPROC_TRUSTED_PROXIES (rawproc.middleware.proxies drops it otherwise).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("RAWPROC_SSL_REDIRECT", default=RAWPROC_HTTPS)
# The load balancer's plain-HTTP health probe must not be redirected.
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]
SESSION_COOKIE_SECURE = env.bool("RAWPROC_SECURE_COOKIES", default=RAWPROC_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("RAWPROC_HSTS_SECONDS", default=31_536_000 if RAWPROC_HTTPS else 0)
# Both bind every subdomain of the site's domain to HTTPS (preload: for years), so they are
# the operator's decision, off by default; the deploy check's reminders of them are silenced
# until they are turned on.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("RAWPROC_HSTS_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("RAWPROC_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [
    *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Storage lifecycle and quota ------------------------------------------------------
# Direct uploads left in ``uploading`` this long are removed with their objects by the
# storage sweep, which runs every RAWPROC_STORAGE_SWEEP_SECONDS and also removes dead
# ``incoming/`` objects. The audit (orphaned objects, records missing their object) runs
# every RAWPROC_STORAGE_AUDIT_SECONDS and only reports; 0 turns either job off.
RAWPROC_UPLOAD_TTL_SECONDS = env.int("RAWPROC_UPLOAD_TTL_SECONDS", default=24 * 3600)
RAWPROC_STORAGE_SWEEP_SECONDS = env.int("RAWPROC_STORAGE_SWEEP_SECONDS", default=3600)
RAWPROC_STORAGE_AUDIT_SECONDS = env.int("RAWPROC_STORAGE_AUDIT_SECONDS", default=24 * 3600)
# Bytes of originals (and reserved uploads) one user may keep; 0 or unset: no quota.
RAWPROC_USER_QUOTA_BYTES = env.int("RAWPROC_USER_QUOTA_BYTES", default=0)
CELERY_BEAT_SCHEDULE.update(
    {
        name: {"task": task, "schedule": float(seconds)}
        for name, task, seconds in (
            ("storage-sweep", "rawproc.storage_sweep", RAWPROC_STORAGE_SWEEP_SECONDS),
            ("storage-audit", "rawproc.storage_audit", RAWPROC_STORAGE_AUDIT_SECONDS),
        )
        if seconds > 0
    }
)

# --- Webhooks (docs/api.md) ------------------------------------------------------------
# Loopback and private addresses (and plain http) only when allowed: tests, on-premise.
# Link-local and cloud metadata addresses are refused whatever this says.
RAWPROC_WEBHOOK_ALLOW_PRIVATE = env.bool("RAWPROC_WEBHOOK_ALLOW_PRIVATE", default=False)
# Seconds before each retry after a failed attempt (about a day in all), then it gives up.
RAWPROC_WEBHOOK_RETRY_SCHEDULE: list[int] = env.list(
    "RAWPROC_WEBHOOK_RETRY_SCHEDULE",
    cast=int,
    default=[30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800],
)
RAWPROC_WEBHOOK_CONNECT_TIMEOUT = env.float("RAWPROC_WEBHOOK_CONNECT_TIMEOUT", default=5.0)
RAWPROC_WEBHOOK_READ_TIMEOUT = env.float("RAWPROC_WEBHOOK_READ_TIMEOUT", default=10.0)
RAWPROC_WEBHOOK_SWEEP_SECONDS = env.float("RAWPROC_WEBHOOK_SWEEP_SECONDS", default=30.0)
# Where clients reach the API: the asset URLs in webhook payloads start with it.
RAWPROC_PUBLIC_URL = env.str("RAWPROC_PUBLIC_URL", default="")
CELERY_BEAT_SCHEDULE["webhooks-send-due"] = {
    "task": "rawproc.webhooks_send_due",
    "schedule": RAWPROC_WEBHOOK_SWEEP_SECONDS,
}

# --- Request limits (no request shape reaches a 5xx) ----------------------------------
# rawproc.middleware.request_limits and rawproc.api.parsers; see docs/reliability.md.
RAWPROC_MAX_URI_BYTES = env.int("RAWPROC_MAX_URI_BYTES", default=4096)
RAWPROC_JSON_MAX_DEPTH = env.int("RAWPROC_JSON_MAX_DEPTH", default=32)
# Bodies other than upload files: refused from Content-Length beyond this (Django's own
# setting, also its limit on form fields read into memory).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("RAWPROC_MAX_BODY_BYTES", default=2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("RAWPROC_MAX_FIELDS", default=1000)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("RAWPROC_MAX_FILES", default=10)
CSRF_FAILURE_VIEW = "rawproc.api.errors.csrf_failure"

# --- Cross-origin browser clients (django-cors-headers) -------------------------------
# Origins (scheme://host[:port]) whose pages may call the API and fetch signed files with
# an API token. None by default: the app's own page is same-origin.
CORS_ALLOWED_ORIGINS: list[str] = env.list("RAWPROC_CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api|files)/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "if-none-match",
    "range",
    "x-csrftoken",
    "x-requested-with",
)
CORS_EXPOSE_HEADERS = ["ETag", "Location", "Retry-After", "Content-Range", "Accept-Ranges"]
CORS_PREFLIGHT_MAX_AGE = 3600

# --- Proxies --------------------------------------------------------------------------
# Addresses or CIDR networks whose X-Forwarded-Proto / X-Forwarded-For are believed.
RAWPROC_TRUSTED_PROXIES: list[str] = env.list(
    "RAWPROC_TRUSTED_PROXIES", default=["127.0.0.1/32", "::1/128"]
)

# --- Sign-in throttling and lockout (django-axes) -------------------------------------
# Failed sign-ins are counted in the database for a user name from one client address; at
# the limit, that pair is locked out (429 page) for the cool-off time. Every sign-in form
# (pages, admin, the API's browsable login) goes through authenticate() and so through it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("RAWPROC_SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("RAWPROC_SIGNIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "rawproc.middleware.proxies.client_ip"
AXES_LOCKOUT_TEMPLATE = "rawproc/locked_out.html"
AXES_VERBOSE = False


# --- Content-Security-Policy (django-csp) ---------------------------------------------
# No inline script and no inline style on the app's pages; the API docs (Swagger UI,
# Redoc) relax style-src for their generated styles (rawproc.api.docs). Signed URLs of
# an S3 store are on another origin: images and direct uploads may go there.
def _storage_origins() -> list[str]:
    if not AWS_STORAGE_BUCKET_NAME:
        return []
    if AWS_S3_ENDPOINT_URL:
        parts = urlsplit(AWS_S3_ENDPOINT_URL)
        return [
            f"{parts.scheme}://{parts.netloc}",
            f"{parts.scheme}://{AWS_STORAGE_BUCKET_NAME}.{parts.netloc}",
        ]
    return [f"https://{AWS_STORAGE_BUCKET_NAME}.s3.amazonaws.com", "https://*.amazonaws.com"]


RAWPROC_CSP_STORAGE_ORIGINS: list[str] = env.list(
    "RAWPROC_CSP_STORAGE_ORIGINS", default=_storage_origins()
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:", *RAWPROC_CSP_STORAGE_ORIGINS],
        "connect-src": [SELF, *RAWPROC_CSP_STORAGE_ORIGINS],
        "font-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
