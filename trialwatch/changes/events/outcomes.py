"""Outcome switching: primary and secondary outcomes matched by what they measure, not by
their place in the list, and each difference called what the literature calls it.

Classes follow Holst et al. 2023 (a "major" change is an outcome added, dropped, or moved to
or from secondary) and the Endpoint codebook (time frame only, reworded, cosmetic). An outcome
change made in the same step as results entry is tagged "likely administrative": most
retrospective restatements coincide with it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from trialwatch.changes.dates import last_day, parse_partial
from trialwatch.changes.events.scene import PS, RANK_OTHER_OUTCOMES, RANK_PRIMARY_OUTCOMES, Scene
from trialwatch.changes.match import pointer, same
from trialwatch.changes.sentences import fmt, get, word_change
from trialwatch.changes.textnorm import text_key
from trialwatch.model import Event, EventType

MODULE = (PS, "outcomesModule")
LISTS = ("primaryOutcomes", "secondaryOutcomes", "otherOutcomes")
NAMES = {"primaryOutcomes": "primary", "secondaryOutcomes": "secondary", "otherOutcomes": "other"}
REWORD_THRESHOLD = 0.5
# Past this many outcomes on a side, rewording is not searched (it compares every pair).
MAX_PAIRS = 10000


@dataclass(frozen=True)
class Outcome:
    kind: str  # primaryOutcomes, secondaryOutcomes, otherOutcomes
    index: int
    item: dict[str, Any]

    @property
    def at(self) -> str:
        return pointer((*MODULE, self.kind, str(self.index)))

    @property
    def measure(self) -> str:
        return str(self.item.get("measure") or "")

    @property
    def key(self) -> str:
        return text_key(self.measure).casefold()


def _outcomes(record: dict[str, Any]) -> list[Outcome]:
    out: list[Outcome] = []
    for kind in LISTS:
        items = get(record, *MODULE, kind)
        if isinstance(items, list):
            out.extend(Outcome(kind, i, it) for i, it in enumerate(items) if isinstance(it, dict))
    return out


def _cosmetic_key(text: str) -> str:
    """Case, punctuation and markup aside."""
    return re.sub(r"[\W_]+", " ", text_key(text).casefold()).strip()


def _similarity(a: str, b: str) -> float:
    wa, wb = _cosmetic_key(a).split(), _cosmetic_key(b).split()
    if not wa or not wb:
        return 0.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


# Words that name what an outcome measures (a score, a rate, a test): two outcomes whose
# differing words name different ones measure different things, whatever words they share.
_MEASURE_WORDS = frozenset(
    {
        "score", "scale", "index", "rate", "ratio", "survival", "response", "remission",
        "mortality", "death", "deaths", "incidence", "questionnaire", "inventory", "test",
        "level", "levels", "concentration", "count", "volume", "pressure", "weight", "pain",
        "time", "duration", "proportion", "percentage", "number", "grade", "events",
        "toxicity", "progression", "recurrence", "relapse", "hospitalization", "function",
        "quality", "accuracy", "sensitivity", "specificity", "adherence", "exacerbations",
        "exacerbation", "symptoms", "symptom", "fatigue", "depression", "anxiety",
    }
)  # fmt: skip
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9-]{1,}[a-z]?$")


def _named(words: list[str]) -> set[str]:
    """What these words name as a measure: its acronyms (PASI, HAM-D, FEV1) and measure words."""
    found = set()
    for w in words:
        bare = w.strip("().,;:[]")
        if _ACRONYM.match(bare) and any(ch.isalpha() for ch in bare):
            found.add(bare.upper())
        elif bare.casefold() in _MEASURE_WORDS:
            found.add(bare.casefold())
    return found


def different_measure(old: str, new: str) -> bool:
    """Is the edit from old to new one measure swapped for another inside the same sentence
    frame ("Change from baseline in PASI score at week 12" → "… in EASI score …")? Yes when a
    replaced stretch names a measure on each side and the two name different ones."""
    a, b = text_key(old).split(), text_key(new).split()
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "replace":
            continue
        was, now = _named(a[i1:i2]), _named(b[j1:j2])
        if was and now and not was & now:
            return True
    return False


def _name(o: Outcome) -> str:
    return fmt(o.measure or o.item.get("description") or "unnamed outcome", 160)


def detect(scene: Scene) -> list[Event]:
    if not scene.under(*MODULE):
        return []
    old, new = _outcomes(scene.old), _outcomes(scene.new)
    free_old = {id(o): o for o in old}
    free_new = {id(o): o for o in new}
    pairs: list[tuple[Outcome, Outcome, str]] = []

    def pair(match: Any, how: str, same_list: bool) -> None:
        by_key: dict[Any, list[Outcome]] = {}
        for n in free_new.values():
            k = match(n)
            if k is not None:
                by_key.setdefault((n.kind if same_list else None, k), []).append(n)
        for o in list(free_old.values()):
            k = match(o)
            if k is None:
                continue
            hits = by_key.get((o.kind if same_list else None, k))
            if hits:
                n = hits.pop(0)
                pairs.append((o, n, how))
                del free_old[id(o)], free_new[id(n)]

    pair(lambda o: text_key(repr(sorted(o.item.items()))), "same", True)
    pair(lambda o: o.key or None, "measure", True)
    pair(lambda o: o.key or None, "moved", False)
    pair(lambda o: _cosmetic_key(o.measure) or None, "cosmetic", True)
    pair(lambda o: _cosmetic_key(o.measure) or None, "moved", False)
    # Reworded: a similar measure in the same list, best pairs first.
    candidates = []
    if len(free_old) * len(free_new) <= MAX_PAIRS:
        for o in free_old.values():
            for n in free_new.values():
                if o.kind == n.kind:
                    r = _similarity(o.measure, n.measure)
                    same_frame = same(o.item.get("timeFrame"), n.item.get("timeFrame"))
                    if different_measure(o.measure, n.measure):
                        continue  # one score swapped for another in the same sentence frame
                    if r >= REWORD_THRESHOLD or (r >= 0.3 and same_frame):
                        candidates.append((r, o, n))
    for _r, o, n in sorted(candidates, key=lambda c: (-c[0], c[1].index, c[2].index)):
        if id(o) in free_old and id(n) in free_new:
            pairs.append((o, n, "reworded"))
            del free_old[id(o)], free_new[id(n)]

    administrative = _results_step(scene)
    events: list[Event] = []
    for o, n, how in pairs:
        event = _paired(scene, o, n, how, administrative)
        if event is not None:
            events.append(event)
    # Left over: what went and what came in the same list is a replacement, one for one.
    gone = sorted(free_old.values(), key=lambda o: (o.kind, o.index))
    came = sorted(free_new.values(), key=lambda o: (o.kind, o.index))
    for kind in LISTS:
        g = [o for o in gone if o.kind == kind]
        c = [o for o in came if o.kind == kind]
        for o, n in zip(g, c, strict=False):
            events.append(
                _event(
                    scene,
                    EventType.OUTCOME_REPLACED,
                    f"{_title(kind)} outcome replaced: {_name(o)} → {_name(n)}",
                    kind,
                    (o, n),
                    administrative,
                    major=True,
                )
            )
        for o in g[len(c) :]:
            events.append(
                _event(
                    scene,
                    EventType.OUTCOME_REMOVED,
                    f"{_title(kind)} outcome removed: {_name(o)}",
                    kind,
                    (o, None),
                    administrative,
                    major=kind == "primaryOutcomes",
                )
            )
        for n in c[len(g) :]:
            events.append(
                _event(
                    scene,
                    EventType.OUTCOME_ADDED,
                    f"{_title(kind)} outcome added: {_name(n)}",
                    kind,
                    (None, n),
                    administrative,
                    major=kind == "primaryOutcomes",
                )
            )
    return [e for e in events if e.changes]


def _title(kind: str) -> str:
    return NAMES[kind].capitalize()


def _paired(scene: Scene, o: Outcome, n: Outcome, how: str, administrative: bool) -> Event | None:
    if how == "same":
        return None
    if o.kind != n.kind:
        primary = "primaryOutcomes" in (o.kind, n.kind)
        return _event(
            scene,
            EventType.OUTCOME_MOVED,
            f"Outcome moved from {NAMES[o.kind]} to {NAMES[n.kind]}: {_name(n)}",
            "primaryOutcomes" if primary else n.kind,
            (o, n),
            administrative,
            major=primary,
            extra=_also(o, n),
        )
    kind = n.kind
    parts = _also(o, n)
    if how == "reworded":
        return _event(
            scene,
            EventType.OUTCOME_REWORDED,
            f"{_title(kind)} outcome measure reworded: {word_change(o.measure, n.measure)}",
            kind,
            (o, n),
            administrative,
            extra=parts,
        )
    frame_changed = not same(o.item.get("timeFrame"), n.item.get("timeFrame"))
    description_changed = not same(o.item.get("description"), n.item.get("description"))
    if frame_changed and not description_changed:
        return _event(
            scene,
            EventType.OUTCOME_TIME_FRAME,
            f"{_title(kind)} outcome {_name(n)}: time frame "
            f"{fmt(o.item.get('timeFrame'), 200)} → {fmt(n.item.get('timeFrame'), 200)}",
            kind,
            (o, n),
            administrative,
            data={
                "old_time_frame": o.item.get("timeFrame"),
                "new_time_frame": n.item.get("timeFrame"),
            },
        )
    if description_changed:
        what = _description_words(o.item.get("description"), n.item.get("description"))
        return _event(
            scene,
            EventType.OUTCOME_DESCRIPTION,
            f"{_title(kind)} outcome {_name(n)}: {what}",
            kind,
            (o, n),
            administrative,
            extra=[p for p in parts if not p.startswith("description")],
        )
    if how == "cosmetic":
        return _event(
            scene,
            EventType.OUTCOME_COSMETIC,
            f"{_title(kind)} outcome {_name(n)}: measure retyped (case or punctuation only)",
            kind,
            (o, n),
            administrative,
        )
    return None


_ASSESSOR = re.compile(
    r"\b(assess\w*|rated|rater|investigator|independent|blind\w*|central\w*|review\w*|"
    r"self-report\w*|patient-reported|adjudicat\w*|committee)\b",
    re.IGNORECASE,
)


def _description_words(old: Any, new: Any) -> str:
    """What a description edit changed: who assesses, or how the outcome is defined."""
    if not old:
        return f"description added: {fmt(new, 200)}"
    if not new:
        return f"description removed (was {fmt(old, 200)})"
    a, b = set(_ASSESSOR.findall(str(old).lower())), set(_ASSESSOR.findall(str(new).lower()))
    subject = "assessor changed in the description" if a != b else "definition edited"
    return f"{subject}: {word_change(str(old), str(new))}"


def _also(o: Outcome, n: Outcome) -> list[str]:
    parts = []
    if not same(o.item.get("timeFrame"), n.item.get("timeFrame")):
        parts.append(
            f"time frame {fmt(o.item.get('timeFrame'), 120)} → {fmt(n.item.get('timeFrame'), 120)}"
        )
    if not same(o.item.get("description"), n.item.get("description")):
        parts.append("description edited")
    return parts


def _lists(items: tuple[Outcome | None, Outcome | None]) -> tuple[str, ...]:
    return tuple(o.kind for o in items if o is not None)


def _after_completion(scene: Scene) -> str | None:
    """ "changed after primary completion (2023-05-31, actual; edited 2024-01-10)", or after
    results were posted: a primary outcome changed once the data were in. None otherwise."""
    edited = scene.edited_on()
    if edited is None:
        return None
    posted = get(scene.old, PS, "statusModule", "resultsFirstPostDateStruct", "date")
    if isinstance(posted, str) and posted <= edited.isoformat():
        return f"changed after results were posted ({posted}; edited {edited.isoformat()})"
    pcd = get(scene.old, PS, "statusModule", "primaryCompletionDateStruct")
    if isinstance(pcd, dict) and pcd.get("type") == "ACTUAL" and isinstance(pcd.get("date"), str):
        day = parse_partial(pcd["date"])
        if day is not None and last_day(day) < edited:
            return (
                f"changed after primary completion ({pcd['date']}, actual; edited "
                f"{edited.isoformat()})"
            )
    return None


def _results_step(scene: Scene) -> bool:
    """Results entered in this same step: outcome edits then are most often restatements."""
    keys = ("resultsFirstSubmitDate",)
    changed = any(scene.status(scene.old, k) != scene.status(scene.new, k) for k in keys)
    return changed or bool(scene.under("resultsSection"))


def _event(
    scene: Scene,
    type_: EventType,
    headline: str,
    kind: str,
    items: tuple[Outcome | None, Outcome | None],
    administrative: bool,
    *,
    major: bool = False,
    extra: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    old, new = items
    changes = scene.within(old.at if old else None, new.at if new else None)
    flags = ["major"] if major else []
    if major:  # Holst 2023: added, dropped, or moved to or from secondary
        headline = headline.replace(":", " (outcome switching):", 1)
    if administrative:
        flags.append("likely_administrative")
        headline += " (likely administrative: made as results were entered)"
    late = _after_completion(scene) if "primaryOutcomes" in (kind, *_lists(items)) else None
    if late:
        flags.append("after_completion")
        headline += f" — {late}"
    if extra:
        headline += "; also " + "; ".join(extra)
    rank = RANK_PRIMARY_OUTCOMES if kind == "primaryOutcomes" else RANK_OTHER_OUTCOMES
    return scene.event(
        type_,
        headline,
        rank - (5 if major else 0),
        changes,
        flags=flags,
        data={"list": NAMES[kind], **(data or {})},
    )
