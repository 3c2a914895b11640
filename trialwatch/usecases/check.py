"""trialwatch check: check trials (one by one, in batches, or a watch list in two phases), then
deliver what is pending to every output (stdout, mail, each channel), or preview it (--dry-run).
Returns the report; never prints."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from trialwatch.audit.transitions import SignalWatch
    from trialwatch.notify.channels import Channel
    from trialwatch.pipeline.plan import ListRun

from trialwatch.config import Settings
from trialwatch.errors import InputError, StoreError, TrialwatchError
from trialwatch.model import Outcome, QueryReport, RunReport, TrialReport
from trialwatch.outputs.base import Output, Preview
from trialwatch.pipeline.compare import CheckOptions, Observer, read_snapshots
from trialwatch.pipeline.deliver import deliver_outputs, delivered
from trialwatch.pipeline.fetch import check_batched, check_each
from trialwatch.record import utc_now
from trialwatch.store.open import is_database_url, open_store
from trialwatch.store.port import Store
from trialwatch.store.watchlist import Watched, load_queries, watched_trials
from trialwatch.usecases import common
from trialwatch.usecases.common import (
    build_client,
    check_options,
    config_trials,
    kept_outputs,
    progress_bar,
    trial_labels,
)
from trialwatch.usecases.history import first_history

log = logging.getLogger("trialwatch")


def run_check(
    ids: list[str],
    bad: list[TrialReport],
    settings: Settings,
    *,
    force: bool = False,
    full: bool = False,
    batch: bool = True,
    email: bool | None = None,
    notify_on: bool = True,
    interactive: bool = False,
    explicit_ids: bool = True,
    http: httpx.Client | None = None,
    publish: Callable[[RunReport], list[TrialReport]] | None = None,
    dry_run: bool = False,
    preview: Callable[[Preview], None] | None = None,
    explain_ignore: bool = False,
) -> tuple[RunReport, Settings, str | None]:
    """Check trials, hand the report to ``publish`` (which prints it and returns the trials it
    printed), mark what was printed as reported, then mail what is pending for mail.

    ``dry_run`` is an option of the run, not a second one: it works on a store whose writes are
    thrown away (run_store) and each output's digest goes to ``preview`` instead of being sent:
    nothing stored, nothing sent.

    Returns the report, the settings and a mail error (or None)."""
    with run_store(settings.store, dry_run) as store:
        return _run(
            store, settings, ids, bad,
            force=force, full=full, batch=batch, email=email, notify_on=notify_on,
            interactive=interactive, explicit_ids=explicit_ids, http=http, publish=publish,
            preview=preview if preview is not None or not dry_run else (lambda _p: None),
            explain_ignore=explain_ignore,
        )  # fmt: skip


@contextlib.contextmanager
def run_store(spec: str, dry_run: bool) -> Iterator[Store]:
    """The store a run works on: the one ``spec`` names, or for a dry run one whose writes are
    all thrown away (a database's transaction rolled back at the end; a folder's copy, removed
    after)."""
    if not dry_run or is_database_url(spec) or spec == "memory:":  # memory keeps nothing anyway
        yield open_store(spec, dry_run=dry_run)
        return
    from trialwatch.store.folder.preview import preview_copy

    with preview_copy(Path(spec)) as copy:
        yield open_store(copy)


def _run(
    store: Store,
    settings: Settings,
    ids: list[str],
    bad: list[TrialReport],
    *,
    force: bool,
    full: bool,
    batch: bool,
    email: bool | None,
    notify_on: bool,
    interactive: bool,
    explicit_ids: bool,
    http: httpx.Client | None,
    publish: Callable[[RunReport], list[TrialReport]] | None,
    preview: Callable[[Preview], None] | None,
    explain_ignore: bool,
) -> tuple[RunReport, Settings, str | None]:
    """A check run on its store, once the settings are loaded."""
    if explicit_ids and not ids:
        report = RunReport(generated_at=utc_now(), trials=list(bad))
        if publish is not None:
            publish(report)
        return report, settings, None
    watched = [] if explicit_ids else watched_trials(settings.watchlist, config_trials(settings))
    queries = [] if explicit_ids else load_queries(settings.watchlist)
    if not explicit_ids:
        queries += subscription_searches(settings, store, queries)
    if not explicit_ids and not watched and not queries:
        raise InputError(
            "no trials to check: give NCT ids (trialwatch check NCT06224738) or watch some "
            f"(trialwatch watch add NCT06224738; the list is {settings.watchlist})"
        )
    targets = ids if explicit_ids else [w.nct_id for w in watched]
    mail_on = bool(settings["email"].get("enabled", False)) if email is None else email
    if mail_on:
        from trialwatch.notify.mail import mail_settings

        mail_settings(settings["email"])  # a broken [email] section stops before any fetch
    options = check_options(settings, extra_errors=bad, explain_ignore=explain_ignore)
    from trialwatch.notify.channels import channels

    chans = channels(settings["notify"], "notify") if notify_on else []
    options.outputs = (
        "stdout",
        *(("mail",) if mail_on else ()),
        *(c.output for c in chans),
    )
    options.keep_for = kept_outputs(settings, store, options.outputs)
    published: list[RunReport] = []
    if publish is not None:
        printer = publish

        def publish(report: RunReport) -> list[TrialReport]:
            published.append(report)
            return printer(report)

    try:
        if settings["backfill"]:
            options.first_notes = first_history(settings, store, targets, interactive)
        watch = signal_watch(settings, store, options) if settings["signals"] else None
        return _checked(
            store, settings, targets, queries, watched, options, chans, watch, publish,
            force=force, full=full, batch=batch, interactive=interactive,
            explicit_ids=explicit_ids, http=http, preview=preview,
            subscriptions=notify_on and preview is None,
        )  # fmt: skip
    except StoreError as exc:
        if published or publish is None:
            raise
        # The store cannot be used (a full disk, a state this user may not write): nothing
        # was changed, and the report says so in the format asked for, trial by trial.
        report = RunReport(generated_at=utc_now(), trials=list(bad))
        report.trials.extend(
            TrialReport(n, Outcome.ERROR, error="not checked: the store cannot be used (below)")
            for n in targets
        )
        report.notes.append(f"not checked: {exc}")
        publish(report)
        return report, settings, None


def _checked(
    store: Store,
    settings: Settings,
    targets: list[str],
    queries: list[Any],
    watched: list[Watched],
    options: CheckOptions,
    chans: list[Channel],
    watch: SignalWatch | None,
    publish: Callable[[RunReport], list[TrialReport]] | None,
    *,
    force: bool,
    full: bool,
    batch: bool,
    interactive: bool,
    explicit_ids: bool,
    http: httpx.Client | None,
    preview: Callable[[Preview], None] | None,
    subscriptions: bool = False,
) -> tuple[RunReport, Settings, str | None]:
    """run_check's run itself, once the store, the outputs and the signals are set up."""
    from trialwatch.subscriptions.outbox import last_position

    total = len(targets)
    start = last_position(store)  # a subscription first seen now is told from here
    listed: ListRun | None = None
    # The run stays registered until its report is out and mailed: other runs at the same
    # time leave the changes it is reporting to it.
    with store.locked():
        observer = Observer(store, options)
        with build_client(settings, http) as client, progress_bar(interactive, total) as tick:
            options.progress = tick
            if (explicit_ids and (not batch or total == 1)) or (not batch and not queries):
                # One request per trial (--no-batch), for ids and watch lists alike.
                report = check_each(targets, client, store, options, observer)
            elif not explicit_ids and (queries or settings["two_phase"]):
                from trialwatch.pipeline.plan import ListOptions, check_list

                listed = check_list(
                    targets,
                    queries,
                    client,
                    store,
                    options,
                    ListOptions(
                        two_phase=bool(settings["two_phase"]),
                        full_every_days=float(settings["full_check_days"]),
                        max_query_results=int(settings["max_query_results"]),
                        force=force,
                        full=full,
                        batch_size=int(settings["batch_size"]),
                        batch=batch,
                        wants_record=watch.due if watch is not None else None,
                    ),
                    observer,
                )
                report = listed.report
            else:
                report = check_batched(
                    targets,
                    client,
                    store,
                    options,
                    batch_size=int(settings["batch_size"]),
                    force=force,
                    watch_list=not explicit_ids,
                    observer=observer,
                )
        labels = trial_labels(settings, watched)
        report.notes.extend(store.notes)
        try:
            store.flush_checks()
        except TrialwatchError as exc:  # the report still goes out; only "last checked" waits
            report.notes.append(f"could not record this run's checks: {exc}")
        read_titles: dict[str, str | None] = {}
        if watch is not None and report.skipped:
            # Nothing fetched (the registry's data did not change), but the calendar may have
            # started or stopped a signal: read those trials from their snapshots.
            read_titles = read_snapshots(store, targets, watch.due, watch.see)
        if watch is not None:
            owe_signals(watch, "stdout", report.trials, read_titles or None)
        for t in report.trials:  # after owe_signals: the reports it added get theirs too
            t.label = labels.get(t.nct_id)
        if listed is not None:
            report.queries = query_news(listed, store, "stdout", report.trials)
        if publish is not None:
            printed = publish(report)
            delivered(store, "stdout", printed)
            if listed is not None:
                delivered(store, "stdout", listed.member_reports)  # said in the query's news
                tell_queries(listed, store, "stdout")
            if watch is not None:
                told(store, watch, "stdout", printed)
        titles = {**read_titles, **{t.nct_id: t.title for t in report.trials}}
        problems = deliver_outputs(
            store,
            outputs_of(settings, store, chans, options.outputs[1:], preview),
            options,
            report,
            labels,
            Beside(store, watch, listed, titles),
        )
        if subscriptions:
            from trialwatch.usecases import subscriptions as subs

            problems += subs.problems(subs.deliver_subscriptions(settings, store, start))
    return report, settings, "; ".join(problems) or None


def subscription_searches(settings: Settings, store: Store, watched: list[Any]) -> list[Any]:
    """The searches of subscriptions that the watch list does not hold: a search slice is a
    search watch, checked with the list."""
    from trialwatch.search.query import build
    from trialwatch.usecases.subscriptions import all_subscriptions

    have = {q.id for q in watched}
    out = []
    for sub in all_subscriptions(settings, store):
        if sub.search:
            query = build(list(sub.search), sub.title or sub.name)
            if query.id not in have:
                have.add(query.id)
                out.append(query)
    return out


class Beside:
    """What a check does beside each output's delivery: the signals owed to it and the searches'
    news before; what it now knows after."""

    def __init__(
        self,
        store: Store,
        watch: SignalWatch | None,
        listed: ListRun | None,
        titles: dict[str, str | None],
    ) -> None:
        self.store, self.watch, self.listed, self.titles = store, watch, listed, titles

    def before(self, output: str, trials: list[TrialReport]) -> list[QueryReport]:
        if self.watch is not None:
            owe_signals(self.watch, output, trials, self.titles)
        return query_news(self.listed, self.store, output, trials) if self.listed else []

    def after(self, output: str, trials: list[TrialReport]) -> None:
        if self.listed is not None:
            tell_queries(self.listed, self.store, output)
        if self.watch is not None:
            told(self.store, self.watch, output, trials)


def outputs_of(
    settings: Settings,
    store: Store,
    chans: list[Channel],
    names: tuple[str, ...],
    preview: Callable[[Preview], None] | None,
) -> list[Output]:
    """The outputs a run delivers to besides stdout, by name (mail, each channel); each a
    preview of itself on a dry run (said, not sent; the store is a copy)."""
    from trialwatch.outputs import ChannelOutput, MailOutput, PreviewOutput
    from trialwatch.outputs.webhook import WebhookOutput

    found: list[Output] = []
    for name in names:
        if name == "mail":
            found.append(MailOutput(settings["email"], store.folder))
            continue
        channel = next(c for c in chans if c.output == name)
        found.append(WebhookOutput(channel, store) if channel.webhook else ChannelOutput(channel))
    return [PreviewOutput(o, preview) for o in found] if preview is not None else found


def signal_watch(settings: Settings, store: Store, options: CheckOptions) -> SignalWatch:
    """Read the transparency signals of every record the run sees, against what each output
    was last told."""
    from trialwatch.audit.transitions import SignalWatch

    ledger = store.signals()
    watch = SignalWatch(
        {o: ledger.told(o) for o in options.outputs},
        common.today(),
        int(settings["grace_days"]),
        ledger.next_days(),
    )
    options.on_record = watch.see
    return watch


def owe_signals(
    watch: SignalWatch,
    output: str,
    trials: list[TrialReport],
    titles: dict[str, str | None] | None = None,
) -> None:
    """Put the signal events ``output`` is owed into its reports: a trial seen for the first
    time gets the signals in force as a note; a trial with no other change becomes changed; a
    trial the reports do not hold gets a report of its own (in a digest)."""
    owed = watch.owed.get(output, {})
    last: dict[str, TrialReport] = {}
    notes: dict[str, str] = {}
    for t in trials:
        if t.outcome is not Outcome.ERROR:
            last[t.nct_id] = t
        if t.outcome is Outcome.NEW and t.nct_id in watch.first:
            names = watch.first[t.nct_id]
            if names not in notes:  # one string for the trials with the same signals
                notes[names] = f"Transparency signals in force: {names} (trialwatch audit explains)"
            t.note(notes[names])
    for nct, events in owed.items():
        if not events:
            continue
        found = last.get(nct)
        if found is None:
            if titles is None:
                continue
            found = TrialReport(nct, Outcome.CHANGED, title=titles.get(nct))
            trials.append(found)
        t = found
        if t.outcome is Outcome.NEW:
            continue
        t.events = sorted([*t.events, *events], key=lambda e: e.rank)
        if t.outcome is Outcome.UNCHANGED:
            t.outcome = Outcome.CHANGED


def told(store: Store, watch: SignalWatch, output: str, shown: list[TrialReport]) -> None:
    """Remember what ``output`` now knows; a failure only means the signals are said again."""
    ncts = {t.nct_id for t in shown if t.outcome is not Outcome.ERROR}
    try:
        ledger = store.signals()
        ledger.tell(output, watch.told_now(output, ncts))
        if watch.new_next:
            ledger.set_next_days(watch.new_next.items())
            watch.next_days.update(watch.new_next)
            watch.new_next = {}
    except TrialwatchError as exc:
        log.warning("could not record the signals told (%s); they are said again next time", exc)


def query_news(
    listed: ListRun, store: Store, output: str, trials: list[TrialReport]
) -> list[QueryReport]:
    from trialwatch.pipeline.plan import news_for

    changed = {t.nct_id for t in trials if t.outcome is Outcome.CHANGED}
    try:
        return news_for(listed, store, output, changed)
    except TrialwatchError as exc:
        log.warning("could not compare the queries with what was reported (%s)", exc)
        return [q for q in listed.report.queries]


def tell_queries(listed: ListRun, store: Store, output: str) -> None:
    from trialwatch.pipeline.plan import told as queries_told

    try:
        queries_told(listed, store, output)
    except TrialwatchError as exc:
        log.warning("could not record what the queries reported (%s); said again next time", exc)
