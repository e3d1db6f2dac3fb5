"""Django app configuration for the raw-processor service."""

from django.apps import AppConfig


class RawprocConfig(AppConfig):
    name = "rawproc"
    verbose_name = "raw-processor"
    default_auto_field = "django.db.models.BigAutoField"
