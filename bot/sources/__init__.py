"""Remote sources: where a dataset's data lives when it is not in the catalog repository.

Pure code only (no network, no boto3/httpx): URI rules (:mod:`.uri`), address
rules (:mod:`.addresses`) and the per-source record of validators that makes
re-runs conditional (:mod:`.manifest`).  The fetching is done by
:mod:`bot.adapters.http_source` and :mod:`bot.adapters.s3_source`, wired into
the convert step by :mod:`bot.pipeline.sources`.
"""
