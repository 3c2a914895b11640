"""What every renderer shares: the order things are shown in and the words around them."""

from __future__ import annotations

import re

from trialwatch.changes.sentences import kind_word
from trialwatch.changes.words import status_words, words
from trialwatch.ids import is_nct_id
from trialwatch.model import (
    CATEGORY_TITLES,
    Attribution,
    Baseline,
    Category,
    Change,
    DateValue,
    Event,
    EventType,
    Match,
    Outcome,
    QueryReport,
    RunReport,
    TrialReport,
)
from trialwatch.sanitize import terminal as clean

# Past this many trials, unchanged ones are counted, not listed, and baselines are one line each.
LIST_UNCHANGED_UP_TO = 10
# Lines under one change or event (sites added, criteria lines) before "… N more".
DETAILS_SHOWN = 40

OUTCOME_ORDER = {
    Outcome.ERROR: 0,
    Outcome.CHANGED: 1,
    Outcome.REMOVED: 2,
    Outcome.NEW: 3,
    Outcome.UNCHANGED: 4,
}


def study_url(nct_id: str) -> str | None:
    """The study's page, only for a well-formed id (a hostile id never becomes a link)."""
    return f"https://clinicaltrials.gov/study/{nct_id}" if is_nct_id(nct_id) else None


def grouped(changes: list[Change]) -> list[tuple[Category, list[Change]]]:
    """Changes by category, in the category order, headlines first within each."""
    out: list[tuple[Category, list[Change]]] = []
    for category in Category:
        items = [c for c in changes if c.category is category]
        if items:
            items.sort(key=lambda c: not c.headline)
            out.append((category, items))
    return out


def summary(t: TrialReport) -> list[Event]:
    """The headline summary: the trial's events by reader importance."""
    return sorted(t.events, key=lambda e: e.rank)


def details(t: TrialReport) -> list[Change]:
    """The field changes the summary does not already say (an event that covers its changes
    says all they say)."""
    said = {i for e in t.events if e.covers for i in e.changes}
    return [c for c in t.changes if c.id not in said or not c.id]


def who(e: Event) -> str:
    """The attribution a reader needs to see: only when it is not the sponsor's own edit."""
    if e.attribution is Attribution.REGISTRY:
        return "by the registry"
    return ""


def category_title(category: Category) -> str:
    return CATEGORY_TITLES[category]


def ordered(report: RunReport) -> list[TrialReport]:
    return sorted(report.trials, key=lambda t: (OUTCOME_ORDER[t.outcome], t.nct_id))


def _date(d: DateValue | None) -> str:
    if d is None or not d.date:
        return "not given"
    return f"{d.date} ({kind_word(d.type)})"


def baseline_rows(b: Baseline) -> list[tuple[str, str]]:
    enrollment = "not given"
    if b.enrollment is not None:
        kind = f" ({kind_word(b.enrollment_type)})" if b.enrollment_type else ""
        enrollment = f"{b.enrollment}{kind}"
    return [
        ("Status", clean(status_words(b.status) if b.status else "not given")),
        ("Phase", clean(", ".join(words(p, "phases") for p in b.phases) or "not given")),
        ("Start", clean(_date(b.start))),
        ("Primary completion", clean(_date(b.primary_completion))),
        ("Completion", clean(_date(b.completion))),
        ("Enrollment", clean(enrollment)),
        ("Lead sponsor", clean(b.lead_sponsor or "not given")),
        ("Last update posted", clean(b.last_update_posted or "not given")),
    ]


_SNAPSHOT_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:_(\d+))?\.json$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def since_words(previous: str) -> str:
    """What a report's "since" names: a stored snapshot by its day ("3 Dec 2026", "3 Dec 2026,
    2nd version" for a second one that day), never its file name; a file given to diff as it is."""
    # A stored snapshot, also as a path (diff snapshots/NCT…/2026-12-03.json …).
    folder, _, name = previous.replace("\\", "/").rpartition("/")
    found = _SNAPSHOT_NAME.match(name)
    if not found or (folder and not re.search(r"NCT\d{8}$", folder)):
        return previous
    year, month, day, n = found.groups()
    if not 1 <= int(month) <= 12:
        return previous
    words = f"{int(day)} {_MONTHS[int(month) - 1]} {year}"
    if n and int(n) > 1:
        words += f", version {n} of that day"
    return words


_SIGNAL_EVENTS = (EventType.SIGNAL_STARTED, EventType.SIGNAL_ENDED)


def status_line(t: TrialReport) -> str:
    """The one-line state of a trial under its heading."""
    if t.outcome is Outcome.NEW:
        return f"baseline recorded ({t.snapshot})"
    if t.outcome is Outcome.ERROR:
        return f"error: {clean(t.error or 'unknown error')}"
    if t.outcome is Outcome.CHANGED:
        n = len(t.changes)
        since = f" since {since_words(t.previous_snapshot)}" if t.previous_snapshot else ""
        if n == 0 and t.events:
            return f"record unchanged{since}; a transparency signal started or stopped"
        if n == 0 and t.baseline is not None:
            return "changed, but what changed cannot be shown; the record as it is now"
        if n == 0:
            return f"changed{since}, but what changed cannot be shown"
        line = f"{n} change{'s' if n != 1 else ''}{since}"
        # Signal events are bullets of their own, not changes of the record: counted apart,
        # so the count above a summary matches what it lists.
        signals = sum(1 for e in t.events if e.type in _SIGNAL_EVENTS)
        if signals:
            line += f"; {signals} signal{'s' if signals != 1 else ''} started or ended"
        return line
    if t.outcome is Outcome.REMOVED:
        return "no longer in the registry"
    since = f" since {since_words(t.previous_snapshot)}" if t.previous_snapshot else ""
    return f"no change{since}"


def summary_line(report: RunReport) -> str:
    counts = {o: len(report.by_outcome(o)) for o in Outcome}
    n = len(report.trials)
    parts = [
        f"{counts[Outcome.CHANGED]} changed",
        f"{counts[Outcome.NEW]} new",
        f"{counts[Outcome.UNCHANGED]} unchanged",
    ]
    if counts[Outcome.REMOVED]:
        parts.append(f"{counts[Outcome.REMOVED]} removed")
    parts.append(f"{counts[Outcome.ERROR]} error{'s' if counts[Outcome.ERROR] != 1 else ''}")
    line = f"{n} trial{'s' if n != 1 else ''}: " + ", ".join(parts)
    if report.queries:
        # A digest of search news alone leads with the searches, not "0 trials".
        line = query_summary(report) if n == 0 else f"{line}; {query_summary(report)}"
    if report.data_timestamp:
        line += f"; registry data as of {report.data_timestamp}"
    return line


# New or departed trials listed per search watch before "… and N more" (JSON has them all).
MATCHES_SHOWN = 100


def match_facts(m: Match) -> str:
    """ "Phase 2, Recruiting, Acme Inc.; first posted 2024-01-05" """
    parts = []
    phases = [p for p in m.phases if p != "NA"]  # "not applicable": nothing worth a word
    if phases:
        parts.append(", ".join(words(p, "phases") for p in phases))
    if m.status:
        parts.append(status_words(m.status))
    if m.sponsor:
        parts.append(m.sponsor)
    text = ", ".join(parts)
    if m.first_posted:
        text += ("; " if text else "") + f"first posted {m.first_posted}"
    return text


def match_line(m: Match) -> str:
    text = m.nct_id + (f" — {m.title}" if m.title else "")
    facts = match_facts(m)
    if facts:
        text += f" ({facts})"
    if m.why:
        text += f": {m.why}"
    return text


def query_heading(q: QueryReport) -> str:
    name = f"Search “{q.label}”" if q.label else f"Search for {q.name}"
    return f"{name}: {q.matches:,} matching trial{'s' if q.matches != 1 else ''}"


def query_status(q: QueryReport) -> str | None:
    """One line for a query without news to list (first check, error, nothing new)."""
    if q.error:
        return f"not checked: {q.error}"
    if q.baseline:
        return (
            "first check: its members are recorded; from now on trials that join it, are "
            "updated or leave it are reported"
        )
    if not q.news:
        return "no new, updated or departed trials"
    return None


def query_summary(report: RunReport) -> str:
    new = sum(len(q.new) for q in report.queries)
    left = sum(len(q.left) for q in report.queries)
    n = len(report.queries)
    return f"{n} search{'es' if n != 1 else ''}: {new} new, {left} left"


# Events whose headlines are trialwatch's own words, dates and numbers (no registry text):
# safe in a mail subject or a notification title.
_TITLE_SAFE = (
    "status_",
    "results_",
    "date_",
    "actual_date_",
    "enrollment_",
    "signal_",
    "first_posted_",
)


def top_headline(report: RunReport) -> str | None:
    """ "NCT06224738 (HER2 CAR-M): Overall status Not yet recruiting → Recruiting; +2 more":
    the most important event of the most important changed trial, and how many more trials
    changed. None when no changed trial has a headline fit for a subject line."""
    changed = [t for t in report.trials if t.outcome is Outcome.CHANGED]
    best: tuple[int, TrialReport, Event] | None = None
    for t in changed:
        for e in t.events:
            if e.silent or not e.type.value.startswith(_TITLE_SAFE):
                continue
            if best is None or e.rank < best[0]:
                best = (e.rank, t, e)
    if best is None:
        return None
    _, trial, event = best
    who = f" ({clean(trial.label)})" if trial.label else ""
    text = f"{trial.nct_id}{who}: {event.headline}"
    if len(text) > 120:
        text = text[:119] + "…"
    more = len({t.nct_id for t in changed}) - 1
    return text + (f"; +{more} more" if more else "")
