"""Mail digests. No change is ever lost: a change stays pending for mail (in the store's
pending files) until a mail containing it has been accepted by the SMTP server. A run whose mail
fails says so (exit 2); the next run's digest carries the undelivered changes with the new ones.
"""

from __future__ import annotations

import contextlib
import email.policy
import json
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from trialwatch.errors import ConfigError, NotifyError
from trialwatch.model import Outcome, QueryReport, RunReport, TrialReport
from trialwatch.notify.channels import narrowed, worth_sending
from trialwatch.render.common import summary_line, top_headline
from trialwatch.render.html import render_html
from trialwatch.render.text import render_text
from trialwatch.sanitize import header

LEGACY_OUTBOX = ".outbox.json"  # trialwatch 0.1
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


@dataclass
class MailSettings:
    to: list[str]
    sender: str
    host: str
    port: int
    security: str
    username: str
    password_env: str
    heartbeat: bool
    timeout: float
    subject_prefix: str
    only: tuple[str, ...] = ()


def mail_settings(email: Mapping[str, Any]) -> MailSettings:
    """Mail settings from the config's [email] table, checked for what sending needs."""
    to = email.get("to", [])
    recipients = [to] if isinstance(to, str) else [str(t) for t in to]
    if not recipients:
        raise ConfigError("email.to is empty: name at least one recipient in the [email] section")
    sender = str(email.get("from") or "")
    if not sender:
        raise ConfigError("email.from is empty: set the sender address in the [email] section")
    for address in [*recipients, sender]:
        if "\n" in address or "\r" in address or "@" not in address:
            raise ConfigError(f"email address {address!r} is not valid")
    security = str(email.get("security", "starttls"))
    port = int(email.get("port") or DEFAULT_PORTS.get(security, 25))
    return MailSettings(
        to=recipients,
        sender=sender,
        host=str(email.get("host", "localhost")),
        port=port,
        security=security,
        username=str(email.get("username", "")),
        password_env=str(email.get("password_env", "")),
        heartbeat=bool(email.get("heartbeat", False)),
        timeout=float(email.get("timeout", 30.0)),
        subject_prefix=str(email.get("subject_prefix", "[trialwatch]")),
        only=tuple(str(o) for o in email.get("only") or ()),
    )


def _password(settings: MailSettings, env: Mapping[str, str]) -> str | None:
    if not settings.username:
        return None
    if not settings.password_env:
        raise ConfigError(
            "email.username is set but email.password_env is not: name the "
            "environment variable that holds the SMTP password"
        )
    password = env.get(settings.password_env)
    if password is None:
        raise ConfigError(
            f"email.password_env names {settings.password_env}, which is not set in the environment"
        )
    return password


# --- the digest --------------------------------------------------------------------------
#
# What is pending for mail lives in the store's pending changes (store/folder/pending.py, and
# store/markers.py in a database): a change stays there until a mail holding it was accepted.
# Stores written by trialwatch 0.1 may still hold an outbox file of undelivered reports: it is
# mailed with the next digest, then removed.


def _legacy_outbox(store_root: Path | None) -> list[dict[str, Any]]:
    if store_root is None:  # a database store: no outbox of trialwatch 0.1
        return []
    path = Path(store_root) / LEGACY_OUTBOX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none, or unreadable: nothing more to deliver from it
        return []
    entries = data.get("pending") if isinstance(data, dict) else None
    out = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            trial = TrialReport.from_json(entry["trial"])
        except (KeyError, TypeError, ValueError):
            continue  # a malformed entry: the valid ones still go
        out.append({"run_at": entry.get("run_at"), "trial": trial})
    return out


def digest_report(
    pending: list[TrialReport], run: RunReport, queries: list[QueryReport] | None = None
) -> RunReport:
    """One report for the mail: every undelivered change (this run's and earlier runs'), and
    this run's errors."""
    this_run = {(t.nct_id, t.snapshot) for t in run.trials if t.outcome is Outcome.CHANGED}
    trials = []
    for trial in pending:
        if trial.outcome not in (Outcome.CHANGED, Outcome.ERROR):
            continue
        if (trial.nct_id, trial.snapshot) not in this_run and trial.outcome is Outcome.CHANGED:
            trial.note("found by an earlier run; not delivered until now")
        trials.append(trial)
    seen = {t.nct_id for t in trials}
    trials.extend(t for t in run.errors if t.nct_id not in seen)
    return RunReport(
        generated_at=run.generated_at,
        trials=trials,
        data_timestamp=run.data_timestamp,
        queries=list(queries or []),
    )


def subject(report: RunReport, prefix: str) -> str:
    changed = sorted({t.nct_id for t in report.trials if t.outcome is Outcome.CHANGED})
    errors = len(report.errors)
    top = top_headline(report)
    if top:
        text = top
    elif changed:
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        text = f"{len(changed)} trial{'s' if len(changed) != 1 else ''} changed: {shown}"
    else:
        text = "no changes"
    new = sum(len(q.new) for q in report.queries)
    left = sum(len(q.left) for q in report.queries)
    if new or left:
        parts = [f"{new} new" if new else "", f"{left} left" if left else ""]
        searches = f"searches: {', '.join(p for p in parts if p)}"
        text = searches if not changed else f"{text}; {searches}"
    if errors:
        text += f" ({errors} error{'s' if errors != 1 else ''})"
    return header(f"{prefix} {text}".strip())


class _OneLineHeaders(EmailPolicy):
    """Headers on one line (a folded subject with non-ASCII words reads back with doubled
    spaces in some clients); bodies still wrapped at 78 by quoted-printable."""

    def fold(self, name: str, value: str) -> str:
        return str(_WIDE.fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        return _WIDE.fold_binary(name, value)


_WIDE = email.policy.default.clone(max_line_length=998)
MAIL_POLICY = _OneLineHeaders()


def new_message(settings: MailSettings, subject_line: str) -> EmailMessage:
    """A message with its headers; only header-safe text (no registry text) reaches them."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = header(subject_line)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="trialwatch.local")
    return msg


def build_message(report: RunReport, settings: MailSettings) -> EmailMessage:
    msg = new_message(settings, subject(report, settings.subject_prefix))
    text = summary_line(report) + "\n\n" + render_text(report)
    # Quoted-printable keeps every line short, as SMTP requires (registry text can be long).
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(
        render_html(report, title=msg["Subject"]), subtype="html", cte="quoted-printable"
    )
    return msg


def send(msg: EmailMessage, settings: MailSettings, env: Mapping[str, str] | None = None) -> str:
    """Send one message; returns the server's reply to the message. NotifyError otherwise,
    saying which step failed. Once the server has accepted the message (250 after DATA) it is
    delivered, whatever the server says to QUIT. The password is never part of any message."""
    env = os.environ if env is None else env
    password = _password(settings, env)
    where = f"{settings.host}:{settings.port}"
    step = "connect to"
    smtp: smtplib.SMTP | None = None
    try:
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        step = "greet"
        smtp.ehlo()
        if settings.security == "starttls":
            step = "start TLS with"
            if not smtp.has_extn("starttls"):
                raise NotifyError(
                    f"the mail server {where} does not offer STARTTLS; "
                    "set email.security to ssl or none"
                )
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if password is not None:
            step = "log in to"
            if not smtp.has_extn("auth"):
                raise NotifyError(
                    f"the mail server {where} does not offer login (no AUTH), but email.username "
                    "is set; leave email.username empty for a server without login"
                )
            smtp.login(settings.username, password)
        step = "send through"
        code, reply = smtp.mail(settings.sender)
        if code != 250:
            raise NotifyError(
                f"the mail server {where} refused the sender {settings.sender}: {code} "
                f"{_reply(reply)}"
            )
        for rcpt in settings.to:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                raise NotifyError(f"the mail server {where} refused {rcpt}: {code} {_reply(reply)}")
        code, reply = smtp.data(msg.as_bytes(policy=MAIL_POLICY.clone(linesep="\r\n")))
        if code != 250:
            raise NotifyError(
                f"the mail server {where} refused the message: {code} {_reply(reply)}"
            )
        accepted = f"{code} {_reply(reply)}"
    except NotifyError:
        _close(smtp)
        raise
    except smtplib.SMTPAuthenticationError as exc:
        _close(smtp)
        raise NotifyError(
            f"the mail server {where} refused the login of {settings.username!r}: "
            f"{exc.smtp_code} {_reply(exc.smtp_error)}"
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:  # timeouts are OSErrors
        _close(smtp)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise NotifyError(
            f"could not {step} the mail server {where}: {reason or type(exc).__name__}"
        ) from None
    _close(smtp, polite=True)
    return accepted


def _reply(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


def _close(smtp: smtplib.SMTP | None, polite: bool = False) -> None:
    """Say goodbye if possible; whatever the server answers, the connection is closed."""
    if smtp is None:
        return
    if polite:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
    with contextlib.suppress(OSError):
        smtp.close()


def mail_digest(
    run: RunReport,
    pending: list[TrialReport],
    email: Mapping[str, Any],
    store_root: Path | None,
    queries: list[QueryReport] | None = None,
) -> tuple[RunReport, MailSettings, bool] | None:
    """The digest a mail of everything undelivered would hold, its settings, and whether an
    outbox of trialwatch 0.1 went into it; None when there is nothing to send."""
    settings = mail_settings(email)
    legacy = _legacy_outbox(store_root)
    for entry in legacy:
        trial = entry["trial"]
        trial.note(f"found by an earlier run ({entry['run_at']}); not delivered until now")
    changes = [*[e["trial"] for e in legacy], *pending]
    report = narrowed(digest_report(changes, run, queries), settings.only)
    if not worth_sending(report) and not settings.heartbeat:
        return None
    return report, settings, bool(legacy)


def deliver(
    run: RunReport,
    pending: list[TrialReport],
    email: Mapping[str, Any],
    store_root: Path | None,
    env: Mapping[str, str] | None = None,
    queries: list[QueryReport] | None = None,
) -> str | None:
    """Mail the digest of everything undelivered (``pending``). Returns what was done (for the
    log), or None when there was nothing to send. Raises NotifyError when the mail could not go
    out; the caller keeps the changes pending for the next run."""
    found = mail_digest(run, pending, email, store_root, queries)
    if found is None:
        return None
    report, settings, legacy = found
    msg = build_message(report, settings)
    reply = send(msg, settings, env)
    if legacy and store_root is not None:
        with contextlib.suppress(OSError):
            (Path(store_root) / LEGACY_OUTBOX).unlink()
    return f"mailed {msg['Subject']!r} to {', '.join(settings.to)} ({reply})"


def send_test(email: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    settings = mail_settings(email)
    msg = new_message(settings, f"{settings.subject_prefix} test message")
    msg.set_content("This is a test message from trialwatch: mail settings work.\n")
    return send(msg, settings, env)
