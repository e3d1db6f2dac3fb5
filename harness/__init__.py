"""Real servers for the test suite, the benchmarks and the cluster run.

One package starts every process the service is made of, the same way everywhere:
PostgreSQL (a scratch database on a running server, or a private server), Redis, SeaweedFS
(S3), the gunicorn API server and Celery workers, on loopback or on hosts of their own in
Linux network namespaces (``harness.hosts``). Nothing here imports pytest or Django, so a
benchmark's child processes load it cheaply; pytest fixtures over it live in
``tests/services.py``.
"""
