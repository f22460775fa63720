"""Clients for Europeana and WITH: search and records in, labels out as annotations.

Modules, each one concern:

* ``http`` — the one retrying HTTP layer (backoff + jitter, 429 RateLimit, token refresh)
* ``errors`` — the typed failures jobs act on (DuplicateAnnotation, RateLimited, …)
* ``exit_codes`` — what a job's exit status tells cron (75 try later, 78 fix the settings)
* ``search_api`` — Search (cursor paging, checkpoints) and Record clients, API v2 and v3
* ``edm`` — typed search items and records; ``record_ids`` and ``rights`` — ids, licences
* ``fetch`` — safe downloads of provider images; ``placeholders`` — icons that are no artwork
* ``oidc`` — bearer tokens from the OpenID Connect token endpoint
* ``annotations_api`` — tagging annotations: create, find, delete
* ``with_api`` — the WITH platform (session login, annotations, collections)
* ``vocabulary`` — validated category → AAT/Wikidata URI mapping files
* ``dry_run`` — a curator's check of every credential against the real services
* ``fake`` — a local fake of all three services with switchable faults (the only Flask user)

A standalone library: it imports nothing from ``backend`` or ``edge_models`` (the import
contract in ``pyproject.toml`` checks it). The nightly jobs that drive the engine with these
clients (pull, label export and review, annotation pushes) live above the engine, in
``backend.sync``.
"""
