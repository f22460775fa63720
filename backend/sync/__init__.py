"""Sync jobs: the nightly work a curator runs, one small module each.

* ``provenance`` — how a Europeana record is stored on a catalogue item (``extra`` keys,
  ``source_path``), shared by the pull, the export and the pushes
* ``checkpoints`` — the pull's resumable position and running counters, kept in the catalog
* ``pull`` — Search API → download → ingest, resumable, with skip reasons
* ``export_labels`` — labels → CSV / JSON-LD with vocabulary URIs, for curators
* ``review`` — a curator's accept / reject of a label
* ``push`` — accepted labels → annotations (idempotent, resumable), rejections withdrawn
* ``targets`` — where a push sends: the Europeana Annotations API or WITH

Jobs receive their clients and the engine as arguments (the CLI builds them), so tests run
them against the local fake with instant retry clocks.
"""
