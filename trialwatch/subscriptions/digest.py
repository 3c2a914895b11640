"""A subscription's digest: the events its slice and rule let through, newest last, each with
its trial, its severity and why, and the rule that let it through; capped in length, with where
to find the rest. Text (mail, chat), Markdown (chat services that render it) and HTML (mail).
Registry text is escaped for each."""

from __future__ import annotations

from dataclasses import dataclass

from trialwatch.render.common import study_url
from trialwatch.sanitize import html_text as h
from trialwatch.sanitize import markdown as md
from trialwatch.sanitize import terminal
from trialwatch.store.events import Row
from trialwatch.subscriptions.model import Subscription
from trialwatch.subscriptions.severity import RANK, Severity

CAP = 50  # events a digest shows; the rest are counted, with where to read them


@dataclass(frozen=True, slots=True)
class Told:
    """An event a subscription tells, and why."""

    row: Row
    title: str | None
    severity: Severity
    reason: str
    rule: str | None  # the rule's text that let it through (None: the subscription has none)


@dataclass(frozen=True, slots=True)
class Digest:
    sub: Subscription
    told: list[Told]
    after: int  # the cursor the events follow (``trialwatch events --after`` lists them all)
    period: str  # the run, day or week it covers
    site_url: str = ""  # where the site is published (its subscription page has the rest)

    def shown(self) -> list[Told]:
        return self.told[:CAP]

    @property
    def rest(self) -> int:
        return max(0, len(self.told) - CAP)

    def subject(self, prefix: str = "[trialwatch]") -> str:
        high = sum(1 for t in self.told if t.severity is Severity.HIGH)
        n = len(self.told)
        what = f"{n} change{'s' if n != 1 else ''}" + (f" ({high} high)" if high else "")
        period = {"day": f" on {self.period}", "week": f" in week {self.period}"}.get(
            self.sub.every, ""
        )
        return f"{prefix} {self.sub.name}: {what}{period}".strip()

    def heading(self) -> str:
        return f"{self.sub.label}: {self.sub.describe()}"

    @property
    def page(self) -> str | None:
        """The subscription's page on the published site, when there is one."""
        if not self.site_url:
            return None
        return f"{self.site_url.rstrip('/')}/subscriptions/{self.sub.name}.html"

    def rest_line(self) -> str:
        where = (
            f"the subscription's page, {self.page}, shows them"
            if self.page
            else f"trialwatch events --after {self.after} lists every change since this "
            "digest began"
        )
        return f"… and {self.rest} more: {where}"


def _order(t: Told) -> tuple[int, int]:
    return RANK[t.severity], t.row.position or 0


def render_text(d: Digest) -> str:
    lines = [terminal(d.heading()), ""]
    for t in sorted(d.shown(), key=_order):
        title = f" — {t.title}" if t.title else ""
        lines.append(terminal(f"{t.row.nct}{title}"))
        lines.append(terminal(f"  {t.row.headline}"))
        why = f"  {t.severity.value}: {t.reason}"
        if t.rule:
            why += f"; told by the rule: {t.rule}"
        lines.append(terminal(why))
        lines.append("")
    if d.rest:
        lines.append(d.rest_line())
    return "\n".join(lines).rstrip() + "\n"


def render_markdown(d: Digest) -> str:
    lines = [f"**{md(d.heading())}**", ""]
    for t in sorted(d.shown(), key=_order):
        url = study_url(t.row.nct)
        trial = f"[{md(t.row.nct)}]({url})" if url else md(t.row.nct)
        rule = "; rule: `" + t.rule.replace("`", "'") + "`" if t.rule else ""
        lines.append(
            f"- {trial} {md(t.title or '')}: {md(t.row.headline)} "
            f"(_{t.severity.value}: {md(t.reason)}{rule}_)"
        )
    if d.rest:
        lines += ["", md(d.rest_line())]
    return "\n".join(lines) + "\n"


def render_html(d: Digest) -> str:
    items = []
    for t in sorted(d.shown(), key=_order):
        url = study_url(t.row.nct)
        trial = f'<a href="{h(url)}">{h(t.row.nct)}</a>' if url else h(t.row.nct)
        rule = f"; told by the rule <code>{h(t.rule)}</code>" if t.rule else ""
        items.append(
            f"<li><b>{trial}</b> {h(t.title or '')}<br>{h(t.row.headline)}"
            f"<br><small>{h(t.severity.value)}: {h(t.reason)}{rule}</small></li>"
        )
    rest = f"<p>{h(d.rest_line())}</p>" if d.rest else ""
    if d.rest and d.page:
        rest = f'<p>… and {d.rest} more: <a href="{h(d.page)}">the subscription\'s page</a></p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{h(d.subject())}</title></head><body>"
        f"<h2>{h(d.heading())}</h2><ul>{''.join(items)}</ul>{rest}</body></html>\n"
    )


def payload(d: Digest) -> tuple[str, bytes]:
    """A signed webhook's delivery of a digest: (its id, its body), ``trialwatch.webhook/1``
    with each event row as ``trialwatch events`` gives it, plus why the subscription tells it.
    The same events, the same id, whichever run retries it (a receiver drops a repeat)."""
    import hashlib

    from trialwatch.record import utc_now
    from trialwatch.sanitize import dumps

    key = "\n".join([d.sub.name, *(str(t.row.position) for t in d.told)])
    message_id = "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]
    body = {
        "schema": "trialwatch.webhook/1",
        "type": "trialwatch.subscription",
        "id": message_id,
        "created": utc_now(),
        "subscription": d.sub.name,
        "cursor": max((t.row.position or 0 for t in d.told), default=d.after),
        "events": [
            {**t.row.to_json(), "severity": t.severity.value, "reason": t.reason,
             "rule": t.rule}
            for t in d.told
        ],
    }  # fmt: skip
    return message_id, (dumps(body) + "\n").encode("utf-8")
