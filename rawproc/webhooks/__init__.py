"""Webhooks by the Standard Webhooks specification: users register URLs, and the events of
their own assets (``asset.ready``, ``asset.failed``, ``asset.deleted``) are sent there, signed,
by a Celery task after the commit, retried with backoff; every attempt is recorded."""
