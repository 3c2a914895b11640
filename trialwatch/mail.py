"""Mail digests, and the outbox that makes sure no change is ever lost.

A change goes into the outbox (``<store>/.outbox.json``) as soon as its snapshot is stored, and
leaves it only when a mail containing it has been accepted by the SMTP server. A run whose mail
fails says so (exit 2); the next run's digest carries the undelivered changes with the new ones.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from trialwatch.atomic import write_atomic
from trialwatch.errors import ConfigError, NotifyError
from trialwatch.model import Outcome, RunReport, TrialReport
from trialwatch.normalize import canonical_json
from trialwatch.render.common import summary_line
from trialwatch.render.html import render_html
from trialwatch.render.text import render_text

OUTBOX = ".outbox.json"
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


# --- the outbox --------------------------------------------------------------------------


class Outbox:
    """Trial reports not yet delivered, keyed by trial and snapshot so each is mailed once."""

    def __init__(self, store_root: Path) -> None:
        self.path = Path(store_root) / OUTBOX

    def load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise NotifyError(
                f"the mail outbox {self.path} cannot be read ({exc}); move it "
                "aside to start afresh (its undelivered changes would be lost)"
            ) from None
        entries = data.get("pending") if isinstance(data, dict) else None
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def _save(self, entries: list[dict[str, Any]]) -> None:
        try:
            write_atomic(self.path, canonical_json({"pending": entries}).encode("utf-8"))
        except OSError as exc:
            raise NotifyError(
                f"could not write the mail outbox {self.path}: {exc.strerror or exc}"
            ) from None

    def add(self, trial: TrialReport, run_at: str) -> None:
        entries = self.load()
        key = (trial.nct_id, trial.snapshot)
        if any(
            (e.get("trial", {}).get("nct_id"), e.get("trial", {}).get("snapshot")) == key
            for e in entries
        ):
            return
        entries.append({"run_at": run_at, "trial": trial.to_json()})
        self._save(entries)

    def remove(self, sent: list[dict[str, Any]]) -> None:
        keys = {_key(e) for e in sent}
        self._save([e for e in self.load() if _key(e) not in keys])


def _key(entry: dict[str, Any]) -> tuple[Any, Any]:
    trial = entry.get("trial", {})
    return trial.get("nct_id"), trial.get("snapshot")


# --- the digest --------------------------------------------------------------------------


def digest_report(pending: list[dict[str, Any]], run: RunReport) -> RunReport:
    """One report for the mail: every undelivered change (this run's and earlier runs'), and
    this run's errors."""
    this_run = {(t.nct_id, t.snapshot) for t in run.trials}
    trials = [TrialReport.from_json(e["trial"]) for e in pending]
    for entry, trial in zip(pending, trials, strict=True):
        if (trial.nct_id, trial.snapshot) not in this_run:
            trial.notes.append(
                f"found by an earlier run ({entry.get('run_at')}); not delivered until now"
            )
    trials.extend(run.errors)
    return RunReport(
        generated_at=run.generated_at, trials=trials, data_timestamp=run.data_timestamp
    )


def _header_safe(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def subject(report: RunReport, prefix: str) -> str:
    changed = sorted({t.nct_id for t in report.trials if t.outcome is Outcome.CHANGED})
    errors = len(report.errors)
    if changed:
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        text = f"{len(changed)} trial{'s' if len(changed) != 1 else ''} changed: {shown}"
    else:
        text = "no changes"
    if errors:
        text += f" ({errors} error{'s' if errors != 1 else ''})"
    return _header_safe(f"{prefix} {text}".strip())


def _message(settings: MailSettings, subject_line: str) -> EmailMessage:
    """A message with its headers; only header-safe text (no registry text) reaches them."""
    msg = EmailMessage()
    msg["Subject"] = _header_safe(subject_line)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="trialwatch.local")
    return msg


def build_message(report: RunReport, settings: MailSettings) -> EmailMessage:
    msg = _message(settings, subject(report, settings.subject_prefix))
    text = summary_line(report) + "\n\n" + render_text(report)
    # Quoted-printable keeps every line short, as SMTP requires (registry text can be long).
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(
        render_html(report, title=msg["Subject"]), subtype="html", cte="quoted-printable"
    )
    return msg


def send(msg: EmailMessage, settings: MailSettings, env: Mapping[str, str] | None = None) -> str:
    """Send one message; returns the server's reply to the message. NotifyError otherwise.
    The password is never part of any message."""
    env = os.environ if env is None else env
    password = _password(settings, env)
    where = f"{settings.host}:{settings.port}"
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if password is not None:
                smtp.login(settings.username, password)
            code, reply = smtp.mail(settings.sender)
            if code != 250:
                raise NotifyError(
                    f"the mail server {where} refused the sender: {code} "
                    f"{reply.decode(errors='replace')}"
                )
            for rcpt in settings.to:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise NotifyError(
                        f"the mail server {where} refused {rcpt}: {code} "
                        f"{reply.decode(errors='replace')}"
                    )
            code, reply = smtp.data(msg.as_bytes(policy=SMTP_POLICY))
            if code != 250:
                raise NotifyError(
                    f"the mail server {where} refused the message: {code} "
                    f"{reply.decode(errors='replace')}"
                )
            return f"{code} {reply.decode(errors='replace')}"
    except NotifyError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(
            f"the mail server {where} refused the login of {settings.username!r}: {exc.smtp_code}"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise NotifyError(
            f"the mail server {where} does not support STARTTLS; set email.security to ssl or none"
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:  # timeouts are OSErrors
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise NotifyError(
            f"could not send mail through {where}: {reason or type(exc).__name__}"
        ) from None


def deliver(
    run: RunReport, email: Mapping[str, Any], store_root: Path, env: Mapping[str, str] | None = None
) -> str | None:
    """Mail the digest of everything undelivered. Returns what was done (for the log), or None
    when there was nothing to send. Raises NotifyError when the mail could not go out; the
    outbox keeps the changes for the next run."""
    settings = mail_settings(email)
    outbox = Outbox(store_root)
    pending = outbox.load()
    if not pending and not settings.heartbeat:
        return None
    report = digest_report(pending, run)
    msg = build_message(report, settings)
    reply = send(msg, settings, env)
    outbox.remove(pending)
    return f"mailed {msg['Subject']!r} to {', '.join(settings.to)} ({reply})"


def send_test(email: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    settings = mail_settings(email)
    msg = _message(settings, f"{settings.subject_prefix} test message")
    msg.set_content("This is a test message from trialwatch: mail settings work.\n")
    return send(msg, settings, env)
