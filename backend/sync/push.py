"""Push job: accepted labels → tagging annotations; rejected ones withdrawn.

The local map (``annotation_links``: service × record × body → annotation id, status) makes
the job idempotent and resumable:

* a pair already ``created`` or ``present`` is not sent again (a re-run sends nothing);
* every send is first recorded as ``pending``, so a crash between the request and its answer
  leaves a trace; the next run sends again, the service refuses the duplicate, and the
  refusal is recorded as done (``present``) — with the proof of ownership described in
  :mod:`.targets`;
* ``refused`` (the service said no: bad target, record unknown to WITH …) is not retried
  unless asked (``retry_refused``); ``failed`` (5xx that outlasted the retries) is retried
  on the next run;
* 429 that outlasts the client's patience stops the job cleanly (exit 75): everything done
  so far is recorded and the next run carries on;
* wrong credentials or configuration — 401/403, a token without the ``annotations`` scope,
  a WITH login refused — stop the job at once (exit 78, never retried by cron) *without*
  marking the label in flight ``refused``: it was never judged by the service, so the next
  run, with the right password, sends it like any other. (Labels an earlier version did
  mark ``refused`` for a refused WITH login are recognised by the reason and sent again.)

Withdrawals: when a curator rejects a label (``artsnap labels review --reject``) and no other
accepted label of that item maps to the same body, the annotation we made is deleted and the
link marked ``deleted``. Someone else's identical tag (a duplicate refusal) is left in place
and reported.

Labels whose category has no vocabulary URI in the mapping are reported, not published
(a plain-text tag would not be the curated vocabulary the portals index).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dataset_tools.progress import ProgressObserver, SilentProgress
from europeana_sync.errors import (
    AnnotationValidationError,
    ApiError,
    AuthenticationError,
    BadRequest,
    CredentialsError,
    Forbidden,
    MissingScope,
    RateLimited,
    RetriesExhausted,
)
from europeana_sync.exit_codes import EXIT_CONFIG, EXIT_ITEM_FAILURES, EXIT_OK, EXIT_TEMPFAIL
from europeana_sync.vocabulary import VocabularyMapping

from ..engine.catalog.sync_store import LinkUpdate, LinkView, SyncStore
from . import provenance
from .export_labels import effective_confidence
from .targets import PushTarget

log = logging.getLogger(__name__)

DONE = ("created", "present")
EXIT_PROBLEMS, EXIT_STOPPED = EXIT_ITEM_FAILURES, EXIT_TEMPFAIL

#: What WITH answered a refused login with, as an older version recorded it on every label
#: as "refused" (UserManager.login's messages, and the old fake's).
_LOGIN_REFUSALS = (
    "Need Email or Username",
    "Invalid Email Address or Username",
    "Invalid Password",
    "Password is Empty",
    "Invalid email or password",
)


@dataclass(frozen=True)
class PushOptions:
    collection: str
    dry_run: bool = False
    #: Label sources to publish (``None``: curator and machine).
    sources: tuple[str, ...] | None = None
    min_confidence: float | None = None
    retry_refused: bool = False
    #: This many failures in a row (after the client's own retries) mean the service is
    #: down: stop rather than spend the night failing.
    max_consecutive_failures: int = 5


@dataclass(frozen=True)
class Outcome:
    record_id: str
    label: str
    body: str
    annotation_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class PushSummary:
    service: str
    collection: str
    dry_run: bool = False
    created: list[Outcome] = field(default_factory=list)
    already_present: list[Outcome] = field(default_factory=list)
    refused: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    #: done in an earlier run, nothing sent
    unchanged: int = 0
    #: refused in an earlier run, not retried
    refused_earlier: int = 0
    withdrawn: list[Outcome] = field(default_factory=list)
    withdraw_failed: list[Outcome] = field(default_factory=list)
    left_in_place: list[Outcome] = field(default_factory=list)
    would_create: list[Outcome] = field(default_factory=list)
    would_withdraw: list[Outcome] = field(default_factory=list)
    not_mapped: dict[str, int] = field(default_factory=dict)
    without_record: int = 0
    stopped: str | None = None
    #: The exit code the stop calls for: 75 (try later) or 78 (credentials, configuration).
    stop_code: int = EXIT_TEMPFAIL
    elapsed_s: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return self.stop_code
        return EXIT_PROBLEMS if (self.failed or self.refused or self.withdraw_failed) else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        def items(outcomes: list[Outcome]) -> list[dict[str, Any]]:
            return [o.to_dict() for o in outcomes]

        return {
            "service": self.service,
            "collection": self.collection,
            "dry_run": self.dry_run,
            "created": items(self.created),
            "already_present": items(self.already_present),
            "refused": items(self.refused),
            "failed": items(self.failed),
            "unchanged": self.unchanged,
            "refused_earlier": self.refused_earlier,
            "withdrawn": items(self.withdrawn),
            "withdraw_failed": items(self.withdraw_failed),
            "left_in_place": items(self.left_in_place),
            "would_create": items(self.would_create),
            "would_withdraw": items(self.would_withdraw),
            "not_mapped": dict(sorted(self.not_mapped.items())),
            "without_record": self.without_record,
            "stopped": self.stopped,
            "exit_code": self.exit_code,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def lines(self) -> list[str]:
        name = {"europeana": "Europeana", "with": "WITH"}.get(self.service, self.service)
        if self.dry_run:
            out = [
                f"{name} ({self.collection}), dry run: would create {len(self.would_create)}, "
                f"would withdraw {len(self.would_withdraw)}; {self.unchanged} already done, "
                f"{self.refused_earlier} refused earlier (not retried)"
            ]
        else:
            out = [
                f"{name} ({self.collection}): {len(self.created)} created, "
                f"{len(self.already_present)} already present, {len(self.refused)} refused, "
                f"{len(self.failed)} failed, {len(self.withdrawn)} withdrawn; "
                f"{self.unchanged} unchanged from earlier runs"
            ]
        for title, outcomes in (
            ("refused", self.refused),
            ("failed", self.failed),
            ("withdrawal failed", self.withdraw_failed),
            ("left in place", self.left_in_place),
            ("already present", self.already_present),
        ):
            for o in outcomes[:20]:
                out.append(f"  {title}: {o.record_id} {o.label}: {o.reason}")
            if len(outcomes) > 20:
                out.append(f"  … and {len(outcomes) - 20} more {title} (see --json)")
        for label, count in sorted(self.not_mapped.items()):
            out.append(f"  not published: label {label!r} ({count}×) has no vocabulary URI in the mapping")
        if self.without_record:
            out.append(f"  not published: {self.without_record} labels on items without a Europeana record id")
        if self.refused_earlier and not self.dry_run:
            out.append(f"  {self.refused_earlier} refused in earlier runs (use --retry-refused to send again)")
        if self.stopped:
            out.append(f"  stopped: {self.stopped}")
            if self.stop_code == EXIT_CONFIG:
                out.append("  fix the credentials or settings, then run the same command again; nothing was lost")
            else:
                out.append("  run the same command again later; what is done is recorded and not repeated")
        return out


@dataclass
class _Wanted:
    item_id: int
    label: str
    confidence: float | None


class PushJob:
    def __init__(
        self,
        store: SyncStore,
        target: PushTarget,
        mapping: VocabularyMapping,
        options: PushOptions,
        *,
        observer: ProgressObserver | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.target = target
        self.mapping = mapping
        self.options = options
        self.observer = observer or SilentProgress()
        #: called with the number of requests sent so far (tests switch faults mid-run)
        self.on_step = on_step
        self._steps = 0

    def run(self) -> PushSummary:
        started = time.perf_counter()
        opts = self.options
        service = self.target.service
        summary = PushSummary(service=service, collection=opts.collection, dry_run=opts.dry_run)
        cid = self.store.catalog.collection_id(opts.collection)
        wanted, rejected = self._plan(cid, summary)
        links = self.store.links(service)
        withdrawals = [
            link
            for link in links.values()
            if link.status in DONE and (link.record_id, link.label) in rejected and link.key not in wanted
        ]
        sends = [(key, want) for key, want in sorted(wanted.items()) if self._needs_send(links.get(key), summary)]
        self.observer.start(len(withdrawals) + len(sends))
        try:
            for link in withdrawals:
                self._withdraw(link, summary)
                self.observer.advance(1)
            failures_in_row = 0
            for (record_id, body), want in sends:
                ok = self._publish(cid, record_id, body, want, links.get((record_id, body)), summary)
                self.observer.advance(1)
                failures_in_row = 0 if ok else failures_in_row + 1
                if failures_in_row >= opts.max_consecutive_failures:
                    summary.stopped = (
                        f"{failures_in_row} failures in a row; the service seems down "
                        f"(last: {summary.failed[-1].reason})"
                    )
                    break
        except _Stop as stop:
            summary.stopped = str(stop)
            summary.stop_code = stop.code
        summary.elapsed_s = time.perf_counter() - started
        return summary

    # -- planning -----------------------------------------------------------------------
    def _plan(self, cid: int, summary: PushSummary) -> tuple[dict[tuple[str, str], _Wanted], set[tuple[str, str]]]:
        """(record, body) → what to publish; and (record, label) pairs a curator rejected."""
        wanted: dict[tuple[str, str], _Wanted] = {}
        accepted_pairs: set[tuple[str, str]] = set()
        rejected_pairs: set[tuple[str, str]] = set()
        sources = self.options.sources
        # Every source counts for withdrawals (a rejection is a rejection); only the chosen
        # sources are published.
        for row in self.store.label_rows(cid):
            record_id = provenance.record_id_of(row.extra)
            if row.status == "rejected":
                if record_id:
                    rejected_pairs.add((record_id, row.label))
                continue
            if row.status != "accepted":
                continue
            if record_id:
                accepted_pairs.add((record_id, row.label))
            if sources is not None and row.source not in sources:
                continue
            if self.options.min_confidence is not None and effective_confidence(row) < self.options.min_confidence:
                continue
            if not record_id:
                summary.without_record += 1
                continue
            term = self.mapping.preferred(row.label)
            if term is None:
                summary.not_mapped[row.label] = summary.not_mapped.get(row.label, 0) + 1
                continue
            key = (record_id, term.uri)
            previous = wanted.get(key)
            if previous is None:
                wanted[key] = _Wanted(row.item_id, row.label, row.confidence)
            elif row.confidence is not None and (previous.confidence or 0.0) < row.confidence:
                previous.confidence = row.confidence
        # Another source still accepting the label keeps the annotation.
        return wanted, rejected_pairs - accepted_pairs

    def _needs_send(self, link: LinkView | None, summary: PushSummary) -> bool:
        if link is None or link.status in ("pending", "failed", "deleted"):
            return True
        if link.status in DONE:
            summary.unchanged += 1
            return False
        if link.status == "refused":
            if self.options.retry_refused or _refused_for_login(link):
                return True
            summary.refused_earlier += 1
            return False
        return True

    # -- sending ------------------------------------------------------------------------
    def _step(self) -> None:
        self._steps += 1
        if self.on_step is not None:
            self.on_step(self._steps)

    def _publish(
        self, cid: int, record_id: str, body: str, want: _Wanted, link: LinkView | None, summary: PushSummary
    ) -> bool:
        """Send one tag and record the answer; ``False`` only for a (retryable) failure."""
        service = self.target.service
        if self.options.dry_run:
            summary.would_create.append(Outcome(record_id, want.label, body))
            return True
        self.store.record_link(
            service,
            record_id,
            body,
            LinkUpdate(status="pending", label=want.label, item_id=want.item_id, collection_id=cid, count_attempt=True),
        )
        self._step()
        try:
            published = self.target.publish(record_id, body, want.label, want.confidence)
        except RateLimited as exc:
            self._record(record_id, body, "failed", f"rate limited: {exc.message}")
            resets = f"; the quota resets in {exc.reset_after:.0f} s" if exc.reset_after else ""
            raise _Stop(f"rate limited by the {service} service{resets}") from exc
        except CredentialsError as exc:
            # Not "refused": the service never judged this label. "failed" is sent again by
            # the next run, with whatever credentials it is given.
            self._record(record_id, body, "failed", f"not sent: credentials refused ({exc.message})")
            raise _Stop(f"the {service} service refused our credentials: {exc}", code=EXIT_CONFIG) from exc
        except AnnotationValidationError as exc:
            summary.refused.append(Outcome(record_id, want.label, body, reason=str(exc)))
            self._record(record_id, body, "refused", str(exc))
            return True
        except BadRequest as exc:
            summary.refused.append(Outcome(record_id, want.label, body, reason=exc.message))
            self._record(record_id, body, "refused", exc.message)
            return True
        except (RetriesExhausted, ApiError, ValueError) as exc:
            summary.failed.append(Outcome(record_id, want.label, body, reason=str(exc)))
            self._record(record_id, body, "failed", str(exc))
            self.observer.message(f"failed: {record_id} {want.label}: {exc}")
            return False
        outcome = Outcome(record_id, want.label, body, published.annotation_id, published.note)
        (summary.created if published.status == "created" else summary.already_present).append(outcome)
        self.store.record_link(
            service,
            record_id,
            body,
            LinkUpdate(
                status=published.status,
                annotation_id=published.annotation_id,
                ours=published.ours,
                creator=published.creator,
                reason=published.note,
            ),
        )
        return True

    def _withdraw(self, link: LinkView, summary: PushSummary) -> None:
        reason = f"curator rejected label {link.label!r}"
        outcome = Outcome(link.record_id, link.label, link.body, link.annotation_id, reason)
        if not link.ours and link.annotation_id and link.creator is None and not self.options.dry_run:
            # Recorded before we could tell whose it was (an earlier version, or a lost first
            # answer): ask the service now.
            self._step()
            ours, creator = self.target.owns(link.annotation_id)
            if ours:
                link = self.store.record_link(
                    link.service, link.record_id, link.body, LinkUpdate(status=link.status, ours=True, creator=creator)
                )
        if not link.ours or not link.annotation_id:
            summary.left_in_place.append(
                Outcome(
                    link.record_id,
                    link.label,
                    link.body,
                    link.annotation_id,
                    f"{reason}, but the annotation is not ours (someone else made the same tag); left in place",
                )
            )
            return
        if self.options.dry_run:
            summary.would_withdraw.append(outcome)
            return
        self._step()
        try:
            existed = self.target.withdraw(link.annotation_id)
        except RateLimited as exc:
            raise _Stop(f"rate limited by the {link.service} service while withdrawing") from exc
        except (AuthenticationError, MissingScope) as exc:
            # our credentials, not this annotation: every other request would fail the same way
            raise _Stop(f"the {link.service} service refused our credentials: {exc}", code=EXIT_CONFIG) from exc
        except Forbidden as exc:
            summary.withdraw_failed.append(Outcome(link.record_id, link.label, link.body, link.annotation_id, str(exc)))
            return
        except ApiError as exc:
            summary.withdraw_failed.append(Outcome(link.record_id, link.label, link.body, link.annotation_id, str(exc)))
            return
        if not existed:
            reason += " (it was already deleted on the service)"
        summary.withdrawn.append(Outcome(link.record_id, link.label, link.body, link.annotation_id, reason))
        self.store.record_link(link.service, link.record_id, link.body, LinkUpdate(status="deleted", reason=reason))

    def _record(self, record_id: str, body: str, status: str, reason: str) -> None:
        self.store.record_link(self.target.service, record_id, body, LinkUpdate(status=status, reason=reason))


class _Stop(Exception):
    """Stop the run cleanly (rate limit, credentials); the message goes in the summary."""

    def __init__(self, message: str, *, code: int = EXIT_TEMPFAIL) -> None:
        super().__init__(message)
        self.code = code


def _refused_for_login(link: LinkView) -> bool:
    """A WITH label an older version marked ``refused`` only because the login was refused."""
    return link.service == "with" and any(text in (link.reason or "") for text in _LOGIN_REFUSALS)


def push(
    store: SyncStore,
    target: PushTarget,
    mapping: VocabularyMapping,
    options: PushOptions,
    *,
    observer: ProgressObserver | None = None,
    on_step: Callable[[int], None] | None = None,
) -> PushSummary:
    """Run one push; see the module docstring."""
    return PushJob(store, target, mapping, options, observer=observer, on_step=on_step).run()
