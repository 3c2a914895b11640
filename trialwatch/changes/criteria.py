"""Eligibility criteria: one free-text blob parsed into inclusion and exclusion items."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from trialwatch.changes.textnorm import display_text, text_key

_WHICH = re.compile(r"\b(inclusion|exclusion)\b", re.IGNORECASE)


def heading(line: str) -> str | None:
    """``inclusion`` or ``exclusion`` when the line heads a list of criteria: "Inclusion
    Criteria:", "Key Exclusion Criteria", "Specific inclusion criteria for healthy participants:".
    A sentence that mentions criteria ("Other protocol defined Inclusion/Exclusion criteria may
    apply") is an item, not a heading."""
    text = line.strip().strip("*_#").strip()
    match = _WHICH.search(text)
    if match is None:
        return None
    words = text.rstrip(":").split()
    low = text.lower()
    if text.endswith(":") and len(words) <= 14 and ("criteri" in low or len(words) == 1):
        return match.group(1).lower()
    if not text.endswith(":") and len(words) <= 3 and "criteri" in low:
        return match.group(1).lower()  # "Inclusion Criteria", "Key Exclusion Criteria"
    return None


SECTION_NAMES = {"inclusion": "Inclusion", "exclusion": "Exclusion", "general": "General"}


@dataclass(frozen=True)
class Item:
    section: str  # inclusion, exclusion or general
    text: str  # as displayed
    key: str  # what it is compared by


def parse_criteria(text: str) -> list[Item]:
    """Split criteria text into items, each line under the heading that precedes it."""
    section = "general"
    items: list[Item] = []
    for line in display_text(text).split("\n"):
        if not line.strip():
            continue
        which = heading(line)
        if which:
            section = which
            continue
        key = text_key(line).casefold()
        if key:
            items.append(Item(section, text_key(line), key))
    return items


@dataclass(frozen=True)
class CriterionChange:
    kind: str  # added, removed, reworded, moved
    section: str
    old: str | None
    new: str | None
    old_section: str | None = None


REWORD_THRESHOLD = 0.6
# Past this many (removed × added) pairs, rewording is not searched: a rewrite that large is
# reported as items removed and added, which stays true and keeps the diff fast.
MAX_REWORD_PAIRS = 4000


def _similar(a: str, b: str) -> float:
    """The similarity ratio when it can reach the threshold, else 0 (cheap bounds first)."""
    matcher = SequenceMatcher(None, a.split(), b.split(), autojunk=False)  # words, not letters
    if matcher.real_quick_ratio() < REWORD_THRESHOLD or matcher.quick_ratio() < REWORD_THRESHOLD:
        return 0.0
    return matcher.ratio()


# Words that say nothing of what a criterion is about: function words and the phrases every
# criteria list repeats ("history of", "patients with", "prior").
_PLAIN = frozenset(
    """a an and any are as at be been by can for from had has have he her his if in into is it
    its may must no nor not of on or other others out over per she should such than that the
    their them then there these they this those to under was were what whatever which while
    who whom will with within without would yes apart except including also all each either
    both known history prior previous current currently patient patients subject subjects
    participant participants study studies person persons individual individuals""".split()  # noqa: SIM905
)
_WORD = re.compile(r"\w+")
TOPIC_SHARED = 2  # distinctive words two criteria must share to be one criterion reworded
TOPIC_OVERLAP = 0.6  # … and the share of the shorter one's distinctive words that they are


def topic(text: str) -> set[str]:
    """A criterion's distinctive words, folded and without a plural s ("steroids" = "steroid")."""
    out = set()
    for word in _WORD.findall(text.casefold()):
        if word in _PLAIN or word.isdigit() or len(word) < 3:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


def same_topic(a: str, b: str) -> float:
    """How far two criteria are about the same thing (0 when they are not): the share of the
    shorter one's distinctive words that the other has too."""
    ta, tb = topic(a), topic(b)
    shared = len(ta & tb)
    if shared < TOPIC_SHARED:
        return 0.0
    overlap = shared / min(len(ta), len(tb))
    return overlap if overlap >= TOPIC_OVERLAP else 0.0


def diff_criteria(old_text: str, new_text: str) -> list[CriterionChange]:
    """Items added, removed, reworded (similar enough to be the same item) and moved."""
    old_items, new_items = parse_criteria(old_text), parse_criteria(new_text)
    old_keys = [(i.section, i.key) for i in old_items]
    new_keys = [(i.section, i.key) for i in new_items]
    old_left = list(old_items)
    new_left = list(new_items)
    for item in old_items:
        if (item.section, item.key) in new_keys:
            new_keys.remove((item.section, item.key))
            old_left.remove(item)
            for n in new_left:
                if n.section == item.section and n.key == item.key:
                    new_left.remove(n)
                    break
    del old_keys
    changes: list[CriterionChange] = []
    # The same text under another heading: moved.
    for item in list(old_left):
        for n in new_left:
            if n.key == item.key:
                changes.append(CriterionChange("moved", n.section, item.text, n.text, item.section))
                old_left.remove(item)
                new_left.remove(n)
                break
    # Similar text in the same section: reworded. Best pairs first.
    candidates: list[tuple[float, int, int]] = []
    if len(old_left) * len(new_left) <= MAX_REWORD_PAIRS:
        for i, o in enumerate(old_left):
            for j, n in enumerate(new_left):
                if o.section == n.section:
                    r = _similar(o.key, n.key)
                    if r >= REWORD_THRESHOLD:
                        candidates.append((r, i, j))
    used_old: set[int] = set()
    used_new: set[int] = set()

    def pair(found: list[tuple[float, int, int]]) -> None:
        for _r, i, j in sorted(found, key=lambda c: (-c[0], c[1], c[2])):
            if i in used_old or j in used_new:
                continue
            used_old.add(i)
            used_new.add(j)
            o, n = old_left[i], new_left[j]
            changes.append(CriterionChange("reworded", n.section, o.text, n.text))

    pair(candidates)
    # Rewritten around the same topic ("history of ILD that required steroids" → "any history
    # of ILD, whatever the steroid use"): many words changed, the subject stayed. One item
    # reworded, never one removed and another added (which would read as a loosening and a
    # tightening at once).
    if len(old_left) * len(new_left) <= MAX_REWORD_PAIRS:
        topics = [
            (same_topic(o.key, n.key), i, j)
            for i, o in enumerate(old_left)
            if i not in used_old
            for j, n in enumerate(new_left)
            if j not in used_new and o.section == n.section
        ]
        pair([t for t in topics if t[0] > 0])
    for i, o in enumerate(old_left):
        if i not in used_old:
            changes.append(CriterionChange("removed", o.section, o.text, None))
    for j, n in enumerate(new_left):
        if j not in used_new:
            changes.append(CriterionChange("added", n.section, None, n.text))
    order = {"inclusion": 0, "exclusion": 1, "general": 2}
    kind_order = {"removed": 0, "reworded": 1, "moved": 2, "added": 3}
    changes.sort(key=lambda c: (order.get(c.section, 3), kind_order[c.kind]))
    return changes
