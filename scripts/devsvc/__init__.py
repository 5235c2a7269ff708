"""Bring the real publish targets up on loopback: S3, STAC API, pygeoapi.

    python scripts/dev_services.py up     [--state DIR] [--only s3,stac,pygeoapi] [--fresh]
    python scripts/dev_services.py status [--state DIR]
    python scripts/dev_services.py env    [--state DIR]      # shell exports (eval "$(...)")
    python scripts/dev_services.py down   [--state DIR]

Why a stdlib-only script: CI calls it before the bot's own dependencies
matter, and a developer needs it on a fresh machine.  It installs what is
missing (PostGIS with apt, each server in its own virtual environment under
``.venv-services/<name>`` so their pins never constrain the bot), starts
every server bound to 127.0.0.1 on free ports, polls each until it answers
(no blind sleeps), and records ports, PIDs, URLs and the local S3 admin
identity in ``<state>/state.json`` plus ``<state>/dev.env``.  ``down`` stops
exactly the process groups it started (checked against their command lines,
so a recycled PID is never killed).  ``up`` is idempotent: healthy services
are kept, dead ones restarted; data (Postgres cluster, SeaweedFS volumes,
pygeoapi config) survives unless ``--fresh``.

Modules: ``process`` (ports, spawn, stop, readiness polls), ``install``
(apt + one virtual environment per server), one module per service
(``s3``, ``postgres``, ``stac``, ``pygeoapi``: start, health, stop),
``state`` (state.json + dev.env) and ``cli`` (the verbs, in parallel).

Services (what runs):
  s3        SeaweedFS ``weed mini`` with buckets catalog-public (anonymous
            read) and catalog-limited (admin identity only)
  postgres  private PostgreSQL 15 cluster + PostGIS, database ``stac``
            migrated by pypgstac
  stac      stac-fastapi-pgstac (Transactions + bulk items) under uvicorn
  pygeoapi  pygeoapi with the admin API, gunicorn --reload on its config
"""
