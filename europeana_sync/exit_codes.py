"""Exit codes of the sync commands, in one place, for cron wrappers to act on.

The split that matters is between *run it again later* and *a person must fix something*:

* ``0`` :data:`EXIT_OK` — done.
* ``1`` :data:`EXIT_ITEM_FAILURES` — done, but some items failed or were refused (read the
  summary); the next run tries the failed ones again.
* ``2`` :data:`EXIT_USAGE` — the command line is wrong (unknown flag, invalid value,
  unreadable mapping file, a query the Search API refuses): fix the command.
* ``75`` :data:`EXIT_TEMPFAIL` — stopped early for a temporary reason (rate limit, 5xx or
  network errors that outlasted the retries, results ending early while the API re-indexes):
  run the same command later; it resumes.
* ``78`` :data:`EXIT_CONFIG` — configuration or credentials wrong (API key refused, OIDC
  client or user refused, a token without the ``annotations`` scope or the write role, WITH
  login refused): never retried; fix the settings first.

75 and 78 are ``EX_TEMPFAIL`` and ``EX_CONFIG`` of BSD's ``sysexits.h``, which mail and job
wrappers already know. :func:`exit_code_for` maps the clients' exceptions to these codes so
the pull, the push and the dry run agree.
"""

from __future__ import annotations

from .errors import (
    ApiError,
    BadRequest,
    CredentialsError,
    RetriesExhausted,
    TruncatedResults,
)

EXIT_OK = 0
EXIT_ITEM_FAILURES = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75
EXIT_CONFIG = 78

#: The retryable codes: a cron wrapper may run the command again later for these only.
TEMPORARY = frozenset({EXIT_TEMPFAIL})


def exit_code_for(error: BaseException) -> int:
    """The exit code for a job stopped by ``error`` (one of the clients' exceptions).

    * credentials / configuration (:class:`~europeana_sync.errors.CredentialsError`) → 78;
    * rate limits, 5xx, network errors, malformed bodies (all
      :class:`~europeana_sync.errors.RetriesExhausted`) and results ending early → 75;
    * a request the API refuses as invalid (400: the query, a stale cursor) → 2;
    * any other API error (an unexpected 4xx such as 404 or 410 on a search) → 78: it will
      not pass by itself, so cron must not retry it.

    Anything else is a bug and is not mapped here: let it raise.
    """
    if isinstance(error, CredentialsError):
        return EXIT_CONFIG
    if isinstance(error, (RetriesExhausted, TruncatedResults)):
        return EXIT_TEMPFAIL
    if isinstance(error, BadRequest):
        return EXIT_USAGE
    if isinstance(error, ApiError):
        return EXIT_CONFIG
    raise TypeError(f"no exit code for {type(error).__name__}: {error}") from error
