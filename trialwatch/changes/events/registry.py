"""What the registry itself does to a record, said as such: publications it links from PubMed
and the "first posted" date turning from estimated to actual when a record is published (silent
by default: bookkeeping)."""

from __future__ import annotations

import re

from trialwatch.changes.events.scene import RANK_BOOKKEEPING, RANK_REST, STATUS, Scene
from trialwatch.changes.match import canon, pointer
from trialwatch.changes.sentences import get
from trialwatch.changes.textnorm import one_line
from trialwatch.model import Attribution, Event, EventType, Kind

REFERENCES = ("protocolSection", "referencesModule", "references")


# A PubMed citation: "Authors. Title. Journal. 2023 Apr;108(4):309-315. doi: …".
_YEAR = re.compile(r"^\s*((?:19|20)\d\d)\b")


def publication(citation: object) -> str:
    """A publication by its title, journal and year ("“Cardiopulmonary fitness in children
    with asthma versus healthy children”, Arch Dis Child, 2023"), not an author list cut short;
    the citation as it is when it does not read as PubMed's."""
    text = one_line(str(citation or ""), 2000)
    if not text:
        return "no citation given"
    parts = [p.strip() for p in re.split(r"(?<=[.?!])\s+", text) if p.strip()]
    for i in range(2, len(parts)):
        year = _YEAR.match(parts[i])
        if year and i >= 2:
            title = parts[i - 2].rstrip(".")
            journal = parts[i - 1].rstrip(".")
            if len(title) > 12 and len(journal) < 120:
                return f"“{one_line(title, 240)}”, {one_line(journal, 80)}, {year.group(1)}"
    return one_line(text, 200)


def detect(scene: Scene) -> list[Event]:
    events = []
    old_refs = get(scene.old, *REFERENCES)
    known = {canon(r) for r in old_refs} if isinstance(old_refs, list) else set()
    new_refs = get(scene.new, *REFERENCES)
    for k, ref in enumerate(new_refs if isinstance(new_refs, list) else []):
        if not isinstance(ref, dict) or ref.get("type") != "DERIVED" or canon(ref) in known:
            continue
        found = [
            c for c in scene.within(None, pointer((*REFERENCES, str(k)))) if c.kind is Kind.ADDED
        ]
        if not found:
            continue
        pmid = ref.get("pmid")
        headline = f"Publication linked from PubMed: {publication(ref.get('citation'))}"
        if pmid:
            headline += f" (PMID {one_line(str(pmid), 20)})"
        events.append(
            scene.event(
                EventType.PUBLICATION_LINKED,
                headline,
                RANK_REST,
                found,
                attribution=(
                    Attribution.REGISTRY,
                    "reference of type “derived”: the registry links it from PubMed",
                ),
                data={"pmid": pmid},
            )
        )
    first = (*STATUS, "studyFirstPostDateStruct")
    old, new = get(scene.old, *first), get(scene.new, *first)
    posted = scene.under(*first)
    if (
        posted
        and isinstance(old, dict)
        and isinstance(new, dict)
        and old.get("type") == "ESTIMATED"
        and new.get("type") == "ACTUAL"
        and old.get("date") == new.get("date")
    ):
        events.append(
            scene.event(
                EventType.FIRST_POSTED_ACTUAL,
                f"First posted date confirmed ({new.get('date')}): the record was published",
                RANK_BOOKKEEPING,
                posted,
                attribution=(
                    Attribution.REGISTRY,
                    "set by the registry when it publishes a record",
                ),
                silent=True,
            )
        )
    return events
