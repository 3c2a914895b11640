"""Posted results read against the registration, as COMPare-style audits check by hand: when
results are first posted or changed, each reported primary and secondary outcome is set beside
the one registered (the current protocol). A reported time frame that differs, a registered
primary outcome with no reported result, a reported primary outcome never registered as
primary: each is said in words. And a posted result corrected is named by its outcome and its
group's title ("Drug X 10 mg daily: 41.2 → 44.0"), never by a group code."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from trialwatch.changes.events.scene import PS, RANK_RESULTS, Scene
from trialwatch.changes.match import pointer
from trialwatch.changes.sentences import fmt, get
from trialwatch.changes.textnorm import fold_key
from trialwatch.model import Change, Event, EventType

MEASURES = ("resultsSection", "outcomeMeasuresModule", "outcomeMeasures")
OUTCOMES = (PS, "outcomesModule")
KINDS = {"PRIMARY": "primaryOutcomes", "SECONDARY": "secondaryOutcomes"}
WORD = {"PRIMARY": "primary", "SECONDARY": "secondary"}
# How alike a reported title and a registered measure must read to be one outcome.
SAME_OUTCOME = 0.6
# Corrections named in one headline; the rest are counted.
NAMED = 2


@dataclass
class Reported:
    index: int
    item: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.item.get("type") or "")

    @property
    def title(self) -> str:
        return str(self.item.get("title") or "")

    @property
    def at(self) -> str:
        return pointer((*MEASURES, str(self.index)))


def _reported(record: dict[str, Any]) -> list[Reported]:
    items = get(record, *MEASURES)
    return (
        [Reported(i, m) for i, m in enumerate(items) if isinstance(m, dict)]
        if isinstance(items, list)
        else []
    )


def _registered(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for kind, key in KINDS.items():
        items = get(record, *OUTCOMES, key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                out.append((kind, item))
    return out


def _alike(a: Any, b: Any) -> float:
    x, y = fold_key(a), fold_key(b)
    if not x or not y:
        return 0.0
    if x == y:
        return 1.0
    return SequenceMatcher(None, x.split(), y.split(), autojunk=False).ratio()


def _match(
    title: str, registered: list[tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any]] | None:
    best = max(registered, key=lambda r: _alike(title, r[1].get("measure")), default=None)
    if best is None or _alike(title, best[1].get("measure")) < SAME_OUTCOME:
        return None
    return best


def detect(scene: Scene) -> list[Event]:
    changes = scene.touching(*MEASURES)
    if not changes:
        return []
    events = _against_registration(scene, changes)
    events += _corrections(scene)
    return events


def _fate_of_primaries(
    reported: list[Reported], registered: list[tuple[str, dict[str, Any]]], when: str
) -> str:
    """The other half of a switch: what became of each registered primary outcome that no
    reported primary answers ("the primary outcome registered, “X”, is reported as secondary";
    "… is not reported")."""
    primaries = [r.title for r in reported if r.kind == "PRIMARY"]
    others = [r.title for r in reported if r.kind != "PRIMARY"]
    said = []
    for kind, item in registered:
        measure = item.get("measure")
        if kind != "PRIMARY" or any(_alike(t, measure) >= SAME_OUTCOME for t in primaries):
            continue
        fate = (
            "is reported as secondary"
            if any(_alike(t, measure) >= SAME_OUTCOME for t in others)
            else "is not reported"
        )
        said.append(f"the primary outcome {when}, {fmt(measure, 160)}, {fate}")
    return "; ".join(said)


def _findings(
    reported: list[Reported],
    registered: list[tuple[str, dict[str, Any]]],
    when: str,
    everything: list[Reported] | None = None,
) -> list[tuple[str, Reported]]:
    """Each reported outcome beside the registered one it answers, in words: a reported primary
    outcome registered as secondary or not at all (with what became of the registered primary),
    a time frame that differs. ``when`` says which registration: "registered", "first
    registered (2017-03-01)"; ``everything`` is every reported outcome, when ``reported`` holds
    only those that changed."""
    out = []
    fate = _fate_of_primaries(everything if everything is not None else reported, registered, when)
    for r in reported:
        found = _match(r.title, registered)
        if found is None:
            if r.kind == "PRIMARY":
                out.append(
                    (
                        f"Results report {fmt(r.title, 160)} as a primary outcome; no outcome "
                        f"like it was {when}",
                        r,
                    )
                )
            continue
        kind, item = found
        if r.kind == "PRIMARY" and kind != "PRIMARY":
            out.append(
                (
                    f"Results report {fmt(r.title, 160)} as a primary outcome; it was {when} "
                    f"as {WORD[kind]}" + (f"; {fate}" if fate else ""),
                    r,
                )
            )
        frame, registered_frame = r.item.get("timeFrame"), item.get("timeFrame")
        if frame and registered_frame and fold_key(frame) != fold_key(registered_frame):
            out.append(
                (
                    f"Results report the {WORD[r.kind]} outcome {fmt(r.title, 120)} at "
                    f"{fmt(frame, 80)}; it was {when} at {fmt(registered_frame, 80)}",
                    r,
                )
            )
    return out


def _unanswered(
    reported: list[Reported], registered: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The registered primary outcomes no reported result answers."""
    titles = [r.title for r in reported]
    return [
        item
        for kind, item in registered
        if kind == "PRIMARY"
        and not any(_alike(t, item.get("measure")) >= SAME_OUTCOME for t in titles)
    ]


def _against_registration(scene: Scene, changes: list[Change]) -> list[Event]:
    reported = [r for r in _reported(scene.new) if r.kind in KINDS]
    if not reported:
        return []
    registered = _registered(scene.new)
    before = {fold_key(r.title): r for r in _reported(scene.old)}
    # A result that did not change was said when it was posted.
    fresh = [
        r for r in reported if (old := before.get(fold_key(r.title))) is None or old.item != r.item
    ]
    said: list[tuple[str, list[Change]]] = []
    for headline, r in _findings(fresh, registered, "registered", reported):
        old = before.get(fold_key(r.title))
        said.append((headline, scene.within(old.at if old else None, r.at) or changes))
    # A registered primary outcome no posted result answers (once results are there).
    if not _reported(scene.old):
        for item in _unanswered(reported, registered):
            said.append(
                (
                    f"Registered primary outcome {fmt(item.get('measure'), 160)} has no "
                    "reported result",
                    changes,
                )
            )
    return [
        scene.event(
            EventType.RESULTS_VS_REGISTRATION,
            headline,
            RANK_RESULTS + 5,
            covered,
            covers=False,  # the results' own events say what was posted
            data={"check": "registration"},
        )
        for headline, covered in said
    ]


def _groups(item: dict[str, Any]) -> dict[str, str]:
    out = {}
    for g in item.get("groups") or []:
        if isinstance(g, dict) and g.get("id"):
            out[str(g["id"])] = str(g.get("title") or g["id"])
    return out


def _values(item: dict[str, Any]) -> dict[tuple[str, str, str], tuple[str, Any]]:
    """(class, category, group id) → (value, spread) of every measurement."""
    out: dict[tuple[str, str, str], tuple[str, Any]] = {}
    for cls in item.get("classes") or []:
        if not isinstance(cls, dict):
            continue
        for cat in cls.get("categories") or []:
            if not isinstance(cat, dict):
                continue
            for m in cat.get("measurements") or []:
                if isinstance(m, dict) and m.get("groupId"):
                    key = (
                        str(cls.get("title") or ""),
                        str(cat.get("title") or ""),
                        str(m["groupId"]),
                    )
                    out[key] = (str(m.get("value")), m.get("spread"))
    return out


def _corrections(scene: Scene) -> list[Event]:
    before = {fold_key(r.title): r for r in _reported(scene.old)}
    events = []
    for r in _reported(scene.new):
        old = before.get(fold_key(r.title))
        if old is None:
            continue
        was, now = _values(old.item), _values(r.item)
        names = _groups(r.item)
        unit = str(r.item.get("unitOfMeasure") or "").strip()
        moved = []
        for key, (value, _spread) in now.items():
            if key in was and was[key][0] != value:
                label = names.get(key[2], key[2])
                place = " ".join(p for p in key[:2] if p)
                moved.append(f"{label}{f' ({place})' if place else ''}: {was[key][0]} → {value}")
        if not moved:
            continue
        shown = "; ".join(moved[:NAMED]) + (
            f"; and {len(moved) - NAMED} more" if len(moved) > NAMED else ""
        )
        headline = f"Posted result corrected: {fmt(r.title, 140)} — {shown}" + (
            f" ({unit})" if unit and len(moved) <= NAMED else ""
        )
        covered = scene.within(old.at, r.at)
        if covered:
            events.append(
                scene.event(
                    EventType.RESULT_CORRECTED,
                    headline,
                    RANK_RESULTS + 6,
                    covered,
                    details=tuple(moved[NAMED:]),
                    data={"outcome": r.title, "values": len(moved)},
                )
            )
    return events


def against(record: dict[str, Any], registered_in: dict[str, Any], when: str) -> list[str]:
    """The posted results of ``record`` set beside the outcomes registered in
    ``registered_in`` (``when`` names that registration: "first registered (2017-03-01)"), in
    words; empty when the record has no results or they match. For the history's original
    registration."""
    reported = [r for r in _reported(record) if r.kind in KINDS]
    if not reported:
        return []
    registered = _registered(registered_in)
    out = [headline for headline, _r in _findings(reported, registered, when)]
    out += [
        f"The primary outcome {when}, {fmt(item.get('measure'), 160)}, has no reported result"
        for item in _unanswered(reported, registered)
    ]
    return out
