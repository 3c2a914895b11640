"""Application services behind the CLI: build the client, store and options from settings and
run one command's core. Returns reports; never prints."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from trialwatch.audit.report import AuditReport
    from trialwatch.audit.transitions import SignalWatch
    from trialwatch.notify.channels import Channel
    from trialwatch.pipeline.plan import ListRun
    from trialwatch.registry.client import RegistryClient
    from trialwatch.registry.history import HistoryClient
    from trialwatch.site.build import Built
    from trialwatch.store.events import Row as EventRow
    from trialwatch.store.jobs import Progress as SyncProgress
    from trialwatch.sync.run import SyncReport, SyncState, Tally
    from trialwatch.sync.run import Worker as SyncWorker
    from trialwatch.timeline.backfill import Backfilled
    from trialwatch.timeline.render import Story

from trialwatch.audit.signals import signal_names
from trialwatch.changes.baseline import title_of
from trialwatch.changes.differ import compare
from trialwatch.config import Settings, load_settings
from trialwatch.errors import InputError, StoreError, TrialwatchError
from trialwatch.model import Outcome, QueryReport, RunReport, TrialReport
from trialwatch.pipeline.compare import CheckOptions, Observer, fill, read_snapshots
from trialwatch.pipeline.deliver import delivered, pending_reports
from trialwatch.pipeline.fetch import check_batched, check_each
from trialwatch.record import record_id, utc_now
from trialwatch.registry.retry import RateLimiter, RetryPolicy
from trialwatch.store import Snapshot, read_record_file
from trialwatch.store.open import is_database_url, open_store
from trialwatch.store.port import Store
from trialwatch.store.watchlist import Watched, load_queries, parse_entries, watched_trials

log = logging.getLogger("trialwatch")


def build_client(settings: Settings, http: httpx.Client | None = None) -> RegistryClient:
    import httpx

    from trialwatch.registry.client import RegistryClient, make_http_client

    seconds = float(settings["timeout"])
    timeout = httpx.Timeout(seconds, connect=min(10.0, seconds))
    retry = RetryPolicy(
        attempts=int(settings["max_retries"]) + 1,
        base_delay=float(settings["backoff_base"]),
        total_cap=float(settings["retry_time_cap"]),
    )
    return RegistryClient(
        api_url=settings["api_url"],
        http=http or make_http_client(timeout),
        retry=retry,
        limiter=RateLimiter(float(settings["request_interval"])),
        request_deadline=seconds,
        run_limit=float(settings["run_deadline"]),
    )


def check_options(settings: Settings, **kwargs: Any) -> CheckOptions:
    return CheckOptions(
        ignore=list(settings["ignore"]), show_admin=bool(settings["show_admin"]), **kwargs
    )


def run_check(
    ids: list[str],
    bad: list[TrialReport],
    flags: dict[str, Any],
    config: str | None,
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
    _rolled_back: bool = False,
) -> tuple[RunReport, Settings, str | None]:
    """Check trials, hand the report to ``publish`` (which prints it and returns the trials it
    printed), mark what was printed as reported, then mail what is pending for mail.

    With ``dry_run`` the check runs against a throwaway copy of the store and each output's
    digest goes to ``preview`` instead of being sent: nothing stored, nothing sent.

    Returns the report, the settings and a mail error (or None)."""
    if dry_run:
        from trialwatch.store.preview import preview_copy

        real = load_settings(flags, config)
        if is_database_url(real.store):  # every write of the run is rolled back at its end
            report, settings, problem = run_check(
                ids, bad, flags, config,
                force=force, full=full, batch=batch, email=email, notify_on=notify_on,
                interactive=interactive, explicit_ids=explicit_ids, http=http,
                publish=publish, preview=preview or (lambda _p: None),
                explain_ignore=explain_ignore, _rolled_back=True,
            )  # fmt: skip
            return report, real, problem
        with preview_copy(Path(real.store)) as copy:
            report, settings, problem = run_check(
                ids, bad, {**flags, "store": str(copy)}, config,
                force=force, full=full, batch=batch, email=email, notify_on=notify_on,
                interactive=interactive, explicit_ids=explicit_ids, http=http,
                publish=publish, preview=preview or (lambda _p: None),
                explain_ignore=explain_ignore,
            )  # fmt: skip
        return report, real, problem
    settings = load_settings(flags, config)
    store = open_store(settings.store, dry_run=_rolled_back)
    if explicit_ids and not ids:
        report = RunReport(generated_at=utc_now(), trials=list(bad))
        if publish is not None:
            publish(report)
        return report, settings, None
    watched = [] if explicit_ids else watched_trials(settings.watchlist, config_trials(settings))
    queries = [] if explicit_ids else load_queries(settings.watchlist)
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
) -> tuple[RunReport, Settings, str | None]:
    """run_check's run itself, once the store, the outputs and the signals are set up."""
    total = len(targets)
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
        problems: list[str] = []
        titles = {**read_titles, **{t.nct_id: t.title for t in report.trials}}
        for output in options.outputs[1:]:
            digest_trials = pending_reports(store, output, options)
            on_stdout = {t.nct_id: t.warning for t in report.trials}
            for t in digest_trials:
                t.label = labels.get(t.nct_id)
                if t.warning and on_stdout.get(t.nct_id) != t.warning:
                    # Trouble only the digest met (a snapshot it starts from is gone): said
                    # here too, and the run ends in trouble, as it would for stdout.
                    problems.append(f"{t.nct_id}: {t.warning} (in the {output} digest)")
            if watch is not None:
                owe_signals(watch, output, digest_trials, titles)
            news = query_news(listed, store, output, digest_trials) if listed else []
            try:
                if preview is not None:  # --dry-run: said, not sent (and the store is a copy)
                    preview(
                        preview_of(
                            output, settings, chans, report, digest_trials, news, store.folder
                        )
                    )
                    done = None
                elif output == "mail":
                    from trialwatch.notify.mail import deliver

                    done = deliver(
                        report, digest_trials, settings["email"], store.folder, queries=news
                    )
                else:
                    channel = next(c for c in chans if c.output == output)
                    done = notify_channel(channel, report, digest_trials, news)
            except TrialwatchError as exc:
                kept = "the changes are kept and will be in the next run's digest"
                problems.append(f"{exc}; {kept}")
                continue
            delivered(store, output, digest_trials)
            try:
                store.note_delivery(output)
            except TrialwatchError as exc:
                log.warning("could not record the delivery to %s (%s)", output, exc)
            if listed is not None:
                tell_queries(listed, store, output)
            if watch is not None:
                told(store, watch, output, digest_trials)
            if done:
                report.notes.append(done)
    return report, settings, "; ".join(problems) or None


def kept_outputs(settings: Settings, store: Store, outputs: tuple[str, ...]) -> tuple[str, ...]:
    """The outputs a change found now is kept for besides this run's own: mail and each channel
    the config sets up (even when this run was told --no-email), and every output a run
    delivered to lately (a cron job's --email)."""
    from trialwatch.notify.channels import channels

    configured = ["mail"] if settings["email"].get("enabled", False) else []
    # A broken notify setting is said by the run that uses it; an unreadable state, by the run.
    with contextlib.suppress(TrialwatchError):
        configured += [c.output for c in channels(settings["notify"], "notify")]
    with contextlib.suppress(TrialwatchError):
        configured += store.outputs_in_use()
    return tuple(o for o in dict.fromkeys(configured) if o not in outputs)


def trial_labels(settings: Settings, watched: list[Watched]) -> dict[str, str]:
    """The user's own names for trials: from the watch list and the config, also when the ids
    were given on the command line (a broken watch list costs only the labels here)."""
    if not watched:
        try:
            watched = watched_trials(settings.watchlist, config_trials(settings))
        except TrialwatchError:
            return {}
    return {w.nct_id: w.label for w in watched if w.label}


def channel_digest(
    channel: Channel, run: RunReport, pending: list[TrialReport], queries: list[QueryReport]
) -> RunReport | None:
    """What a channel would be sent of what it has not had yet (None: nothing it wants)."""
    from trialwatch.notify.channels import narrowed, worth_sending
    from trialwatch.notify.mail import digest_report

    digest = narrowed(digest_report(pending, run, queries), channel.only)
    return digest if worth_sending(digest) else None


def notify_channel(
    channel: Channel,
    run: RunReport,
    pending: list[TrialReport],
    queries: list[QueryReport],
) -> str | None:
    """Send one channel's digest of what it has not been sent yet (None: nothing it wants)."""
    from trialwatch.notify.channels import send
    from trialwatch.notify.mail import subject

    digest = channel_digest(channel, run, pending, queries)
    if digest is None:
        return None
    return send(channel, digest, subject(digest, "trialwatch:"))


@dataclass
class Preview:
    """What one output would get from a --dry-run: its name, and the digest with its subject
    (None: nothing would be sent)."""

    output: str
    to: str
    digest: RunReport | None
    subject: str | None


def preview_of(
    output: str,
    settings: Settings,
    chans: list[Channel],
    run: RunReport,
    pending: list[TrialReport],
    queries: list[QueryReport],
    folder: Path | None,
) -> Preview:
    from trialwatch.notify.mail import mail_digest, subject

    if output == "mail":
        found = mail_digest(run, pending, settings["email"], folder, queries)
        to = "mail to " + ", ".join(str(t) for t in settings["email"].get("to", []))
        if found is None:
            return Preview(output, to, None, None)
        mailed, mail, _ = found
        return Preview(output, to, mailed, subject(mailed, mail.subject_prefix))
    channel = next(c for c in chans if c.output == output)
    digest = channel_digest(channel, run, pending, queries)
    title = subject(digest, "trialwatch:") if digest is not None else None
    return Preview(output, f"notification to {channel.name}", digest, title)


def title_check(settings: Settings, raw_id: str) -> str | None:
    """ "NCT06224738: HER2 CAR-M … (Not yet recruiting)", looked up once with a short timeout.
    InputError when the registry does not know the trial; None when it could not be asked."""
    from trialwatch.changes.words import status_words
    from trialwatch.errors import FetchError, NotInRegistryError
    from trialwatch.registry.ids import normalize_nct_id

    nct = normalize_nct_id(raw_id)
    quick = Settings(
        {**settings.values, "max_retries": 0, "timeout": 10.0, "run_deadline": 15.0},
        settings.sources,
        settings.config_file,
        settings.config_files,
    )
    try:
        with build_client(quick) as client:
            fetched = client.fetch_study(nct)
    except NotInRegistryError:
        raise InputError(
            f"{nct} is not in the registry (404); check the id at https://clinicaltrials.gov "
            "(or add it anyway with --offline)"
        ) from None
    except FetchError as exc:
        return f"{nct}: its title could not be looked up ({exc})"
    status = fetched.record.get("protocolSection", {}).get("statusModule", {})
    words = status_words(status.get("overallStatus")) if isinstance(status, dict) else ""
    return f"{fetched.nct_id}: {title_of(fetched.record) or 'no title'} ({words})"


def today() -> dt.date:
    """The day signals are read for (one place, so that tests can fix it)."""
    return dt.date.today()


def signal_watch(settings: Settings, store: Store, options: CheckOptions) -> SignalWatch:
    """Read the transparency signals of every record the run sees, against what each output
    was last told."""
    from trialwatch.audit.transitions import SignalWatch

    ledger = store.signals()
    watch = SignalWatch(
        {o: ledger.told(o) for o in options.outputs},
        today(),
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
    for t in trials:
        if t.outcome is not Outcome.ERROR:
            last[t.nct_id] = t
        if t.outcome is Outcome.NEW and t.nct_id in watch.first:
            names = signal_names(watch.first[t.nct_id])
            t.notes.append(f"Transparency signals in force: {names} (trialwatch audit explains)")
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


def config_trials(settings: Settings) -> list[Watched]:
    where = str(settings.config_file) if settings.config_file else "config"
    return parse_entries(settings["trials"], where)


@contextlib.contextmanager
def progress_bar(
    enabled: bool, total: int, doing: str = "checking"
) -> Iterator[Callable[[str], None] | None]:
    """A progress bar on stderr, only for people (stderr a terminal) and lists of some size."""
    if not enabled or total < 2:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(doing),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("check", total=total)
        yield lambda _nct: progress.advance(task)


def run_diff(
    old: Path, new: Path, flags: dict[str, Any], config: str | None
) -> tuple[RunReport, Settings]:
    settings = load_settings(flags, config)
    a, b = stored_or_file(old, settings), stored_or_file(new, settings)
    trial = TrialReport(
        nct_id=b.nct_id,
        outcome=Outcome.UNCHANGED,
        title=title_of(b.record),
        snapshot=str(new),
        previous_snapshot=str(old),
    )
    fill(trial, compare(b.nct_id, a.record, b.record, settings["ignore"]), settings["show_admin"])
    if a.nct_id != b.nct_id:
        trial.notes.append(f"comparing two different trials: {a.nct_id} and {b.nct_id}")
    return RunReport(generated_at=utc_now(), trials=[trial]), settings


def explain_ignore(old: Path, new: Path, settings: Settings) -> list[str]:
    """What each ignore rule hides between two record files."""
    from trialwatch.changes.differ import explain_rules

    a, b = stored_or_file(old, settings), stored_or_file(new, settings)
    return explain_rules(b.nct_id, a.record, b.record, settings["ignore"])


_STORED = re.compile(
    r"^(?P<nct>NCT\d{8})/(?:(?P<name>\d{4}-\d{2}-\d{2}(?:_\d+)?\.json|latest|previous)"
    r"|registry/v(?P<version>\d{4,})\.json)$",
    re.IGNORECASE,
)


def stored_or_file(ref: Path, settings: Settings) -> Snapshot:
    """A record file, or a record the store keeps, named as in a snapshot folder:
    ``NCT06224738/2026-11-25.json`` (or ``/latest``, ``/previous``) and
    ``NCT04280705/registry/v0003.json``; the same names in a database store."""
    text = str(ref).replace("\\", "/")
    match = _STORED.match(text)
    if Path(ref).exists() or match is None:
        return read_record_file(Path(ref))
    store = open_store(settings.store)
    nct = match["nct"].upper()
    try:
        if match["version"] is not None:
            v = store.versions().read(nct, int(match["version"]))
            return Snapshot(nct, v.path, v.record, None, None)
        names = [p.name for p in store.snapshots(nct)]
        name = match["name"]
        if name in ("latest", "previous"):
            wanted = names[-1:] if name == "latest" else names[-2:-1]
            name = wanted[0] if wanted else ""
        found = store.snapshot_named(nct, name) if name else None
    finally:
        store.close()
    if found is None:
        raise InputError(
            f"no record file {ref}, and no snapshot {text} in {store.label} "
            f"(its snapshots: {', '.join(names) or 'none'})"
        )
    return found


def watch_rows(flags: dict[str, Any], config: str | None) -> list[dict[str, Any]]:
    """The watch list with what the store knows of each trial."""
    settings = load_settings(flags, config)
    store = open_store(settings.store)
    rows = []
    for w in watched_trials(settings.watchlist, config_trials(settings)):
        state = store.state(w.nct_id)
        rows.append(
            {
                "id": w.nct_id,
                "label": w.label,
                "note": w.note,
                "status": state.get("status"),
                "title": state.get("title"),
                "last_checked": state.get("last_checked"),
                "last_changed": state.get("last_changed"),
                "last_error": state.get("last_error"),
            }
        )
    members = store.queries()
    for q in load_queries(settings.watchlist):
        try:
            seen = members.members(q.id)
        except TrialwatchError:
            seen = None
        rows.append(
            {
                "query": q.describe(),
                "id": q.id,
                "label": q.label,
                "params": q.as_params(),
                "members": "not checked yet" if seen is None else str(len(seen)),
            }
        )
    return rows


def run_history(
    nct_id: str,
    flags: dict[str, Any],
    config: str | None,
    *,
    since: str | None = None,
    original: bool = False,
) -> Story:
    """The story of one trial from what the store holds: the registry's versions (after a
    backfill) and the snapshots `check` took."""
    from trialwatch.registry.ids import normalize_nct_id
    from trialwatch.timeline.render import tell
    from trialwatch.timeline.story import steps

    nct = normalize_nct_id(nct_id)
    settings = load_settings(flags, config)
    store = open_store(settings.store)
    found = steps(store, nct)
    if not found:
        raise InputError(
            f"no snapshots or registry versions of {nct} in {store.label}; check it first "
            f"(trialwatch check {nct}) or fetch its history (trialwatch backfill {nct})"
        )
    index = store.versions().index(nct)
    return tell(
        nct,
        found,
        index.original if index else None,
        since=since,
        with_original=original,
    )


def first_history(
    settings: Settings, store: Store, nct_ids: list[str], interactive: bool
) -> dict[str, list[str]]:
    """Backfill the trials seen for the first time (no snapshot yet), before their baseline is
    recorded, and say in one line what their history holds. A history that cannot be read is
    said too; the check goes on."""
    from trialwatch.timeline.backfill import backfill
    from trialwatch.timeline.render import since_registration
    from trialwatch.timeline.story import steps

    new = [n for n in nct_ids if not store.snapshots(n)]
    if not new:
        return {}
    versions = store.versions()
    hc = history_client(settings)
    notes: dict[str, list[str]] = {}
    try:
        with store.locked(), progress_bar(interactive, len(new), "backfilling") as advance:
            for nct in new:
                result = backfill(hc, versions, nct)
                if result.error:
                    notes[nct] = [f"history unavailable: {result.error}"]
                elif result.versions:
                    notes[nct] = [since_registration(steps(store, nct))]
                if advance is not None:
                    advance(nct)
    finally:
        hc.client.close()
    return notes


def history_client(settings: Settings) -> HistoryClient:
    from trialwatch.registry.history import HistoryClient

    return HistoryClient(build_client(settings), settings["history_url"])


def run_backfill(
    nct_ids: list[str],
    flags: dict[str, Any],
    config: str | None,
    *,
    every_watched: bool = False,
    interactive: bool = False,
    client: HistoryClient | None = None,
) -> list[Backfilled]:
    """Store the registry's versions of each trial (all watched trials with ``every_watched``).
    One trial's unavailable history never stops the others."""
    from trialwatch.registry.ids import normalize_nct_id
    from trialwatch.timeline.backfill import backfill

    settings = load_settings(flags, config)
    ids = [normalize_nct_id(i) for i in nct_ids]
    if every_watched:
        ids += [w.nct_id for w in watched_trials(settings.watchlist, config_trials(settings))]
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InputError(
            "say which trials: trialwatch backfill NCT06224738, or --all for every watched trial"
        )
    store = open_store(settings.store)
    versions = store.versions()
    hc = client or history_client(settings)
    results = []
    try:
        with store.locked(), progress_bar(interactive, len(ids), "backfilling") as advance:
            for nct in ids:
                results.append(backfill(hc, versions, nct))
                if advance is not None:
                    advance(nct)
    finally:
        if client is None:
            hc.client.close()
    return results


def run_audit(
    nct_ids: list[str],
    files: list[Path],
    flags: dict[str, Any],
    config: str | None,
    *,
    as_of: dt.date | None = None,
    fetch: bool = False,
    http: httpx.Client | None = None,
) -> AuditReport:
    """Transparency signals of trials: the given ids (from their latest snapshots), the records
    in ``files``, or, given neither, every watched trial. Offline unless ``fetch``, which checks
    the trials first (what changed stays pending for the next check's report)."""
    from trialwatch.audit.report import AuditedTrial, AuditReport
    from trialwatch.audit.sources import audited, from_store, records_in_file
    from trialwatch.registry.ids import normalize_nct_id

    settings = load_settings(flags, config)
    day = as_of or today()
    grace = int(settings["grace_days"])
    report = AuditReport(generated_at=utc_now(), today=day.isoformat(), grace_days=grace)
    ids = [normalize_nct_id(i) for i in nct_ids]
    labels: dict[str, str | None] = {}
    if not ids and not files:
        watched = watched_trials(settings.watchlist, config_trials(settings))
        if not watched:
            raise InputError(
                "nothing to audit: give NCT ids or --file, or watch some trials "
                f"(trialwatch watch add NCT06224738; the list is {settings.watchlist})"
            )
        ids = [w.nct_id for w in watched]
        labels = {w.nct_id: w.label for w in watched}
    ids = list(dict.fromkeys(ids))
    if fetch and ids:
        # Fetch only: no mail, no notification; what changed stays pending for `check`.
        run, _, _ = run_check(
            ids, [], flags, config, explicit_ids=True, email=False, notify_on=False, http=http
        )
        for t in run.errors:
            report.notes.append(
                f"{t.nct_id} could not be fetched ({t.error}); its last snapshot is used"
            )
    store = open_store(settings.store)
    for nct in ids:
        trial = from_store(store, nct, day, grace)
        trial.label = labels.get(nct)
        report.trials.append(trial)
    for path in files:
        try:
            for record, source in records_in_file(path):
                nct = str(record_id(record))
                report.trials.append(audited(nct, record, day, grace, source=source))
        except TrialwatchError as exc:
            report.trials.append(AuditedTrial(str(path), error=str(exc)))
    return report


def run_site(
    out: Path,
    flags: dict[str, Any],
    config: str | None,
    *,
    full: bool = False,
    as_of: dt.date | None = None,
) -> Built:
    """Build the static site of the watch from the store (no request to the registry)."""
    from trialwatch.site.build import WatchedTrial, build_site

    settings = load_settings(flags, config)
    watched = watched_trials(settings.watchlist, config_trials(settings))
    queries = load_queries(settings.watchlist)
    if not watched and not queries:
        raise InputError(
            "nothing to show: watch some trials first (trialwatch watch add NCT06224738; the "
            f"list is {settings.watchlist}), and check them"
        )
    store = open_store(settings.store)
    out = Path(out)
    root = store.folder.resolve() if store.folder is not None else None
    if root is not None and (out.resolve() == root or root in out.resolve().parents):
        raise InputError(f"build the site outside the snapshot folder {store.label}")
    try:
        return build_site(
            store,
            [WatchedTrial(w.nct_id, w.label) for w in watched],
            queries,
            out,
            today=as_of or today(),
            grace_days=int(settings["grace_days"]),
            full=full,
        )
    finally:
        store.close()


def run_events(
    flags: dict[str, Any],
    config: str | None,
    *,
    since: str | None = None,
    until: str | None = None,
    types: list[str] | None = None,
    categories: list[str] | None = None,
    trials: list[str] | None = None,
    rebuild: bool = False,
) -> list[EventRow]:
    """The stored changes and events that match; with ``rebuild``, filed again first from
    every stored snapshot (for a store from before 0.5, or after changing ignore rules)."""
    from trialwatch.registry.ids import normalize_nct_id

    settings = load_settings(flags, config)
    store = open_store(settings.store)
    wanted = [normalize_nct_id(t) for t in trials or []]
    try:
        if rebuild:
            with store.locked():
                for nct in wanted or store.trials():
                    refile(store, nct, list(settings["ignore"]))
        return store.query_events(
            since=since, until=until, types=types, categories=categories, trials=wanted or None
        )
    finally:
        store.close()


def refile(store: Store, nct: str, ignore: list[str]) -> None:
    """File a trial's rows again from its stored snapshots, pair by pair."""
    import itertools

    from trialwatch.pipeline.compare import file_step

    files = store.snapshots(nct)
    snaps = []
    for path in files:
        try:
            snaps.append(store.read(path))
        except TrialwatchError:
            continue  # a damaged snapshot: the steps beside it are filed against its neighbours
    with store.unit() as unit:
        unit.forget_events(nct)
        for old, new in itertools.pairwise(snaps):
            seen = new.fetched_at or f"{new.name[:10]}T00:00:00Z"
            file_step(unit, nct, seen, old.record, new.record, old.name, new.name, ignore)


# -- sync and workers ---------------------------------------------------------------------------


def sync_worker(settings: Settings, store: Store, client: RegistryClient | None) -> SyncWorker:
    """A worker of this store's sync queue: watched trials keep what it stores pending for
    the outputs a check delivers to (so the next check reports it); the rest is only filed."""
    from trialwatch.sync.run import Worker

    watched = {w.nct_id for w in watched_trials(settings.watchlist, config_trials(settings))}
    keep_for = ("stdout", *kept_outputs(settings, store, ("stdout",)))
    return Worker(
        store,
        client,
        check_options(settings),
        watched,
        keep_for,
        lease=float(settings["lease_seconds"]),
    )


@contextlib.contextmanager
def paced_client(settings: Settings, http: httpx.Client | None = None) -> Iterator[RegistryClient]:
    """A registry client whose pace is the store's, shared by every worker of it."""
    from trialwatch.sync.pacer import SharedPacer

    client = build_client(settings, http)
    pace_store = open_store(settings.store)
    client.limiter = SharedPacer(
        pace_store, settings["api_url"], float(settings["request_interval"])
    )
    try:
        yield client
    finally:
        pace_store.close()
        if http is None:
            client.close()


def run_sync(
    flags: dict[str, Any],
    config: str | None,
    *,
    from_file: Path | None = None,
    download: bool = False,
    query: list[str] | None = None,
    sweep: bool = False,
    work: bool = True,
    interactive: bool = False,
    http: httpx.Client | None = None,
) -> SyncReport:
    """Bring the store's copy of the registry (or of a population) up to date."""
    import tempfile

    from trialwatch.search.query import from_args
    from trialwatch.sync.run import run_sync as sync

    settings = load_settings(flags, config)
    params = from_args(query).as_params() if query else None
    if from_file is not None and not Path(from_file).is_file():
        raise InputError(f"no bulk file at {from_file}; give the path of ctg-studies.json.zip")
    store = open_store(settings.store)
    with (
        paced_client(settings, http) as client,
        store.locked(),
        tempfile.TemporaryDirectory(prefix="trialwatch-bulk-") as scratch,
        _counter(interactive) as count,
    ):
        return sync(
            store,
            client,
            sync_worker(settings, store, client),
            from_file=Path(from_file) if from_file else None,
            download_to=Path(scratch) / "ctg-studies.json.zip" if download else None,
            query=params,
            force_sweep=sweep,
            sweep_days=float(settings["sweep_days"]),
            work=work,
            on_progress=count,
        )


def run_worker(
    flags: dict[str, Any],
    config: str | None,
    *,
    wait: float = 0.0,
    limit: int | None = None,
    interactive: bool = False,
    http: httpx.Client | None = None,
) -> Tally:
    """Work the store's sync queue beside other workers until it is empty."""
    settings = load_settings(flags, config)
    store = open_store(settings.store)
    with (
        paced_client(settings, http) as client,
        store.locked(),
        _counter(interactive) as count,
    ):
        return sync_worker(settings, store, client).run(
            wait=wait,
            limit=limit,
            on_job=(lambda _n: count("compared", 1)) if count else None,
        )


def sync_status(flags: dict[str, Any], config: str | None) -> tuple[SyncState, SyncProgress]:
    from trialwatch.sync.run import SyncState

    settings = load_settings(flags, config)
    store = open_store(settings.store)
    try:
        return SyncState.load(store), store.job_progress()
    finally:
        store.close()


@contextlib.contextmanager
def _counter(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A running count on stderr for people (records read, then compared)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        tasks: dict[str, Any] = {}

        def count(what: str, n: int) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(what, total=None)
            progress.advance(tasks[what], n)

        yield count
