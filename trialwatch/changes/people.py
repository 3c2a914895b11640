"""People named in a record — overall officials, central contacts, the responsible party's
investigator — compared as a reader compares them: a name shortened or given with its degrees
("Bing Xia, Doctor", "B. Xia") is the same person, and one person put in another's place is
one change ("Overall official changed: Bing Xia → Wei Chen"), not one removed and one added."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trialwatch.changes.builder import ChangeBuilder, generic
from trialwatch.changes.labels import field_label
from trialwatch.changes.match import canon, item_label, pointer, same, walk
from trialwatch.changes.sentences import fmt, get
from trialwatch.changes.textnorm import fold_key, one_line
from trialwatch.changes.words import words
from trialwatch.model import Kind

PS = "protocolSection"
OFFICIALS = (PS, "contactsLocationsModule", "overallOfficials")
CONTACTS = (PS, "contactsLocationsModule", "centralContacts")
PARTY = (PS, "sponsorCollaboratorsModule", "responsibleParty")

# Titles and degrees a name is given with: they say nothing of who the person is.
_TITLES = frozenset(
    """dr doctor prof professor md phd mph msc ms mba bsc ba ma rn np pa pharmd dphil mbbs
    mbchb frcp frcs facp do dds dmd dvm mr mrs mrs miss sir jr sr ii iii mmed msn bsn cnm
    crnp cra ccrc ccrp""".split()  # noqa: SIM905
)
_TOKEN = re.compile(r"\w+")


def _tokens(name: Any) -> list[str]:
    return [t for t in _TOKEN.findall(fold_key(name)) if t not in _TITLES]


def same_person(a: Any, b: Any) -> bool:
    """Whether two names can be one person's: every word of the shorter name is a word of the
    longer, or its initial, and at least one whole word is shared ("B. Xia" = "Bing Xia";
    "Bing Xia, Doctor" = "Bing Xia"; "Shoichi Shoichi" ≠ "Shoichi Maruyama")."""
    x, y = _tokens(a), _tokens(b)
    if not x or not y:
        return False
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    left = list(long)
    whole = False
    for t in short:
        if t in left:
            left.remove(t)
            whole = whole or len(t) > 1
            continue
        initial = next((w for w in left if len(t) == 1 and w.startswith(t)), None)
        if initial is None:
            return False
        left.remove(initial)
    return whole


def _name(item: Any) -> str:
    return one_line(str(item.get("name") or ""), 120) if isinstance(item, dict) else ""


def _pair(
    old: list[Any], new: list[Any], alike: Callable[[Any, Any], bool]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs of items ``alike`` says are one, each used once, in list order; and the rest."""
    pairs: list[tuple[int, int]] = []
    free = list(range(len(new)))
    rest_old = []
    for i, item in enumerate(old):
        j = next((j for j in free if alike(item, new[j])), None)
        if j is None:
            rest_old.append(i)
        else:
            free.remove(j)
            pairs.append((i, j))
    return pairs, rest_old, free


def _role(item: Any) -> Any:
    return item.get("role") if isinstance(item, dict) else None


def people(b: ChangeBuilder, o: dict[str, Any], n: dict[str, Any]) -> None:
    for where in (OFFICIALS, CONTACTS):
        _people_list(b, where, get(o, *where), get(n, *where))
    _party(b, get(o, *PARTY), get(n, *PARTY))


def _people_list(b: ChangeBuilder, where: tuple[str, ...], old: Any, new: Any) -> None:
    if same(old, new):
        return
    old = [x for x in old if isinstance(x, dict)] if isinstance(old, list) else []
    new = [x for x in new if isinstance(x, dict)] if isinstance(new, list) else []
    label = field_label(where)
    # The same item, then the same person (names shortened or given with degrees), then one
    # person put in another's place in the same role (as many left as came in that role).
    pairs, rest_old, rest_new = _pair(old, new, lambda a, c: canon(a) == canon(c))
    more, rest_old_i, rest_new_i = _pair(
        [old[i] for i in rest_old],
        [new[j] for j in rest_new],
        lambda a, c: same_person(a.get("name"), c.get("name")) and _role(a) == _role(c),
    )
    pairs += [(rest_old[i], rest_new[j]) for i, j in more]
    rest_old = [rest_old[i] for i in rest_old_i]
    rest_new = [rest_new[j] for j in rest_new_i]
    replaced: list[tuple[int, int]] = []
    for role in dict.fromkeys(_role(old[i]) for i in rest_old):
        gone = [i for i in rest_old if _role(old[i]) == role]
        came = [j for j in rest_new if _role(new[j]) == role]
        named = all(_name(old[i]) for i in gone) and all(_name(new[j]) for j in came)
        if len(gone) == len(came) and named:
            replaced += list(zip(gone, came, strict=True))
    rest_old = [i for i in rest_old if i not in {i for i, _ in replaced}]
    rest_new = [j for j in rest_new if j not in {j for _, j in replaced}]
    for j in rest_new:
        name = item_label(new[j], (), j)
        b.add(
            (*where, f"[{name}]"),
            Kind.ADDED,
            None,
            new[j],
            f"{label} added: {_name(new[j]) or fmt(new[j], 200)}",
            schema=where,
            at=pointer((*where, str(j))),
        )
    for i in rest_old:
        name = item_label(old[i], (), i)
        b.add(
            (*where, f"[{name}]"),
            Kind.REMOVED,
            old[i],
            None,
            f"{label} removed: {_name(old[i]) or fmt(old[i], 200)}",
            schema=where,
            at=pointer((*where, str(i))),
        )
    for i, j in replaced:
        was, now = _name(old[i]), _name(new[j])
        role = _role(new[j])
        said = f" ({words(role, 'role').lower()})" if role and where == OFFICIALS else ""
        b.add(
            (*where, f"[{now}]", "name"),
            Kind.CHANGED,
            was,
            now,
            f"{label} changed: {was} → {now}{said}",
            schema=(*where, "name"),
            label=label,
            at=pointer((*where, str(j), "name")),
        )
    for i, j in sorted([*pairs, *replaced], key=lambda p: p[1]):
        if canon(old[i]) == canon(new[j]):
            continue
        subject = f"{label} “{item_label(new[j], (), j)}”"
        for raw in walk(
            old[i],
            new[j],
            (*where, f"[{item_label(new[j], (), j)}]"),
            where,
            skip=lambda s: s == (*where, "name"),
            at=((*where, str(i)), (*where, str(j))),
        ):
            generic(b, raw, subject=subject)


def _party(b: ChangeBuilder, old: Any, new: Any) -> None:
    if same(old, new):
        return
    if not isinstance(old, dict) or not isinstance(new, dict):
        for raw in walk(old, new, PARTY, PARTY):
            generic(b, raw)
        return
    was, now = old.get("investigatorFullName"), new.get("investigatorFullName")
    skip = {(*PARTY, "investigatorFullName")}
    if was and now and not same(was, now):
        if not same_person(was, now):
            b.add(
                (*PARTY, "investigatorFullName"),
                Kind.CHANGED,
                was,
                now,
                f"Responsible party changed: {one_line(str(was), 120)} → {one_line(str(now), 120)}",
            )
    else:
        skip = set()
    for raw in walk(old, new, PARTY, PARTY, skip=skip.__contains__):
        generic(b, raw)
