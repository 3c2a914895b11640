"""trialwatch audit --sponsor: an organisation's compliance desk. Every trial of the organisation
the store holds (or, with --fetch, that a registry search by sponsor finds), where its results
stand, what falls due in the next 90 days, and what moved since the last audit of the
organisation: told once (the states are kept in the store, and each transition is filed as an
event row, ``signal_started`` or ``signal_ended``, in the same transaction)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from trialwatch.audit.report import DeskReport

from trialwatch.config import Settings
from trialwatch.errors import FetchError, InputError
from trialwatch.store.open import open_store
from trialwatch.usecases import common

log = logging.getLogger("trialwatch")

# The registry's "Results Submitted" filter (results submitted, not yet posted), on /studies
# since 2026-01-22 (its release notes). Read where it answers; the records say the rest.
RESULTS_SUBMITTED = "ressub"
# The search areas an organisation is looked up in: its lead sponsor, and the organisation of
# a responsible investigator (both are fields of the record's sponsor module).
AREAS = ("LeadSponsorName", "ResponsiblePartyInvestigatorAffiliation")


def checked_names(sponsors: list[str]) -> list[str]:
    """The organisation's names, each with at least one word to match."""
    from trialwatch.audit.desk import words

    names = [" ".join(s.split()) for s in sponsors]
    empty = [repr(s) for s in sponsors if not words(s)]
    if empty:
        raise InputError(
            f"--sponsor {empty[0]} has no word to match; give the organisation's name as the "
            'registry writes it (e.g. --sponsor "University of Michigan")'
        )
    return list(dict.fromkeys(names))


def search_expression(names: list[str]) -> str:
    """``AREA[LeadSponsorName]"Bayer" OR AREA[ResponsiblePartyInvestigatorAffiliation]"Bayer"``
    for each name (quotes in a name dropped: they would end the phrase)."""
    clauses = []
    for name in names:
        phrase = name.replace('"', " ").strip()
        clauses += [f'AREA[{area}]"{phrase}"' for area in AREAS]
    return " OR ".join(clauses)


def _fetch(
    names: list[str], settings: Settings, http: httpx.Client | None, notes: list[str]
) -> tuple[list[str], set[str]]:
    """The trials a registry search by sponsor finds, checked into the store (what changed stays
    pending for ``check``), and those the registry lists as results submitted."""
    from trialwatch.search.members import listed_ids
    from trialwatch.usecases.check import run_check

    query = {"query.term": search_expression(names)}
    what = f"the search for {' or '.join(names)}"
    client = common.build_client(settings, http)
    try:
        ids = listed_ids(client, query, what)
        try:
            submitted = listed_ids(
                client, {**query, "aggFilters": RESULTS_SUBMITTED}, f"{what} (results submitted)"
            )
        except FetchError as exc:
            submitted = set()
            notes.append(
                f"the registry's Results Submitted filter could not be read ({exc}); "
                "submissions are read from the records alone"
            )
    finally:
        client.close()
    if ids:
        run, _, _ = run_check(
            sorted(ids), [], settings, explicit_ids=True, email=False, notify_on=False, http=http
        )
        for t in run.errors:
            notes.append(f"{t.nct_id} could not be fetched ({t.error}); its last snapshot is used")
    return sorted(ids), submitted


def run_desk(
    sponsors: list[str],
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    fetch: bool = False,
    http: httpx.Client | None = None,
) -> DeskReport:
    """The organisation's desk on ``as_of`` (default today), remembered in the store."""
    from trialwatch.audit.organisation import desk_report

    names = checked_names(sponsors)
    day = as_of or common.today()
    notes: list[str] = []
    fetched: list[str] = []
    submitted: set[str] = set()
    if fetch:
        fetched, submitted = _fetch(names, settings, http, notes)
    store = open_store(settings.store)
    try:
        report = desk_report(
            store, names, day, int(settings["grace_days"]),
            submitted=submitted, fetched=set(fetched), strict=not fetch,
        )  # fmt: skip
    finally:
        store.close()
    report.audit.notes[:0] = notes
    if not report.trials and not report.audit.errors:
        report.audit.notes.append(
            f"no trial of {' or '.join(names)} in {store.label}"
            + ("" if fetch else "; --fetch searches the registry for them")
        )
    return report


def owners_table(settings: Settings) -> dict[str, list[str]]:
    """The config's ``[owners]``, checked with the mail settings before an audit that mails
    them (so that a setup error costs no transition)."""
    from trialwatch.notify.mail import mail_settings

    table = settings.owners
    if not table:
        raise InputError(
            "--mail-owners needs an [owners] table in the config: the names the registry gives "
            'a trial\'s responsible party or officials, to addresses ("Jane Doe, MD" = '
            '"jane.doe@example.org")'
        )
    first = next(iter(table.values()))[0]
    mail_settings({**settings["email"], "to": [first]})
    return table


def mail_owners(
    report: DeskReport, settings: Settings, table: dict[str, list[str]]
) -> tuple[list[str], list[str]]:
    """Mail each person of ``table`` the organisation's trials they answer for
    (audit/owners.py says when): (what was sent, what failed), in words."""
    from trialwatch.audit import owners

    return owners.mail_owners(report, table, settings["email"])
