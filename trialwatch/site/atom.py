"""Atom feeds (RFC 4287): one entry per reported change set, with stable ids (a UUID made from
the trial and the version, so a rebuilt feed never shows an entry twice), the time the change
was seen, and registry text escaped as XML."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from trialwatch.sanitize import terminal

ATOM_NS = "http://www.w3.org/2005/Atom"
# Entries in one feed: a feed reader wants what is new, not a trial's whole life.
MAX_ENTRIES = 200


def stable_id(*parts: str) -> str:
    """A URN that is the same for the same parts on every build and every machine."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "trialwatch:" + "/".join(parts)).urn


def _text(value: object) -> str:
    return escape(terminal(value))


@dataclass
class Entry:
    id: str
    title: str
    updated: str  # RFC 3339, UTC: "2026-11-25T06:00:00Z"
    link: str  # relative to the feed's folder, or absolute
    html: str  # the entry's content as HTML (escaped again as XML text here)
    categories: list[str] = field(default_factory=list)


@dataclass
class Feed:
    id: str
    title: str
    link: str  # the page the feed is about
    self_link: str  # the feed itself
    entries: list[Entry]
    subtitle: str = ""

    def render(self, fallback_updated: str) -> str:
        # Newest first; entries of the same second keep their order, newest last as given.
        entries = sorted(reversed(self.entries), key=lambda e: e.updated, reverse=True)
        entries = entries[:MAX_ENTRIES]
        updated = entries[0].updated if entries else fallback_updated
        out = [
            '<?xml version="1.0" encoding="utf-8"?>',
            f'<feed xmlns="{ATOM_NS}">',
            f"  <id>{_text(self.id)}</id>",
            f"  <title>{_text(self.title)}</title>",
        ]
        if self.subtitle:
            out.append(f"  <subtitle>{_text(self.subtitle)}</subtitle>")
        out += [
            f"  <updated>{_text(updated)}</updated>",
            "  <author><name>trialwatch</name></author>",
            "  <generator>trialwatch</generator>",
            f'  <link rel="alternate" type="text/html" href={quoteattr(self.link)}/>',
            f'  <link rel="self" type="application/atom+xml" href={quoteattr(self.self_link)}/>',
        ]
        for e in entries:
            out += [
                "  <entry>",
                f"    <id>{_text(e.id)}</id>",
                f"    <title>{_text(e.title)}</title>",
                f"    <updated>{_text(e.updated)}</updated>",
                f'    <link rel="alternate" type="text/html" href={quoteattr(e.link)}/>',
                *(f"    <category term={quoteattr(terminal(c))}/>" for c in e.categories),
                f'    <content type="html">{escape(e.html)}</content>',
                "  </entry>",
            ]
        out.append("</feed>")
        return "\n".join(out) + "\n"
