"""Each trial to the person who can fix it: the config's ``[owners]`` table maps the names the
registry gives a record's responsible party or overall officials to mail addresses, and an
organisation's audit (``audit --sponsor … --mail-owners``) mails each person the trials they
answer for, when one of them needs something done (overdue, returned by QC review, due within
90 days or within its grace period) or moved since the last audit.

The mail carries the person's whole list as it stands, not only what moved: a mail that could not
go out loses nothing, the next audit's mail says it all again."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from trialwatch.audit.desk import CALENDAR_DAYS, DeskTrial, ResultsState
from trialwatch.audit.report import DeskReport
from trialwatch.changes.people import same_person
from trialwatch.changes.textnorm import fold_key
from trialwatch.errors import NotifyError

NEEDS_ACTION = {ResultsState.OVERDUE, ResultsState.RETURNED}


def answers_for(table: Mapping[str, list[str]], names: list[str]) -> list[str]:
    """The addresses of the people of a record (its owners' names), by the table."""
    out: list[str] = []
    for key, addresses in table.items():
        if any(fold_key(key) == fold_key(n) or same_person(key, n) for n in names):
            out.extend(a for a in addresses if a not in out)
    return out


def needs_action(t: DeskTrial, today: dt.date) -> bool:
    o = t.obligation
    if o.state in NEEDS_ACTION:
        return True
    return (
        o.state is ResultsState.DUE
        and o.due is not None
        and o.due <= today + dt.timedelta(days=CALENDAR_DAYS)
    )


def per_person(report: DeskReport, table: Mapping[str, list[str]]) -> dict[str, DeskReport]:
    """For each address, the organisation's report cut to that person's trials, when one of
    them needs action or moved; addresses with nothing to say are left out."""
    today = dt.date.fromisoformat(report.audit.today)
    mine: dict[str, list[DeskTrial]] = {}
    for t in report.trials:
        for address in answers_for(table, t.owners):
            mine.setdefault(address, []).append(t)
    out: dict[str, DeskReport] = {}
    for address, trials in mine.items():
        ids = {t.nct_id for t in trials}
        moved = [tr for tr in report.transitions if tr.nct_id in ids]
        if not moved and not any(needs_action(t, today) for t in trials):
            continue
        out[address] = dataclasses.replace(
            report,
            trials=trials,
            transitions=moved,
            calendar=[
                dataclasses.replace(w, trials=tuple(x for x in w.trials if x[0] in ids))
                for w in report.calendar
                if any(x[0] in ids for x in w.trials)
            ],
        )
    return out


def subject_line(report: DeskReport, prefix: str) -> str:
    today = dt.date.fromisoformat(report.audit.today)
    acting = sum(1 for t in report.trials if needs_action(t, today))
    trials = f"{len(report.trials)} trial{'s' if len(report.trials) != 1 else ''}"
    org = " / ".join(report.sponsors)
    what = f"{acting} need{'s' if acting == 1 else ''} action" if acting else "what moved"
    return f"{prefix} Your {trials} at {org}: {what}".strip()


def mail_owners(
    report: DeskReport,
    table: Mapping[str, list[str]],
    email: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Mail each person their trials. Returns (what was sent, what failed), in words."""
    from trialwatch.audit import desk_render
    from trialwatch.notify.mail import mail_settings, new_message, send

    sent: list[str] = []
    failed: list[str] = []
    for address, mine in sorted(per_person(report, table).items()):
        settings = mail_settings({**email, "to": [address]})
        msg = new_message(settings, subject_line(mine, settings.subject_prefix))
        msg.set_content(desk_render.render_text(mine), cte="quoted-printable")
        msg.add_alternative(desk_render.render_html(mine), subtype="html", cte="quoted-printable")
        try:
            send(msg, settings, env)
        except NotifyError as exc:
            failed.append(f"{address}: {exc}")
            continue
        sent.append(f"{address} ({len(mine.trials)} trials)")
    return sent, failed
