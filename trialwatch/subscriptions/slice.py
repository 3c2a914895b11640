"""Which trials a subscription's slice holds: answered from the store (the latest record of each
trial it holds), never by asking the registry."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from trialwatch.audit.desk import name_matches
from trialwatch.changes.sentences import get
from trialwatch.subscriptions.model import Facets, Subscription

P = "protocolSection"


def _names(items: Any, *keys: str) -> list[str]:
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        for key in keys:
            value = item.get(key) if isinstance(item, dict) else item if key == "" else None
            if isinstance(value, str) and value.strip():
                out.append(value)
            elif isinstance(value, list):
                out += [v for v in value if isinstance(v, str) and v.strip()]
    return out


def facets(record: dict[str, Any]) -> Facets:
    lead = get(record, P, "sponsorCollaboratorsModule", "leadSponsor", "name")
    status = get(record, P, "statusModule", "overallStatus")
    phases = get(record, P, "designModule", "phases")
    return Facets(
        sponsor=([lead] if isinstance(lead, str) else [])
        + _names(get(record, P, "sponsorCollaboratorsModule", "collaborators"), "name"),
        condition=_names(get(record, P, "conditionsModule", "conditions"), "")
        + _names(get(record, P, "conditionsModule", "keywords"), ""),
        intervention=_names(
            get(record, P, "armsInterventionsModule", "interventions"), "name", "otherNames"
        ),
        phase=[p for p in phases if isinstance(p, str)] if isinstance(phases, list) else [],
        status=status if isinstance(status, str) else None,
        country=sorted(
            set(_names(get(record, P, "contactsLocationsModule", "locations"), "country"))
        ),
    )


def code(text: str) -> str:
    """ "Phase 3" → PHASE3, "not yet recruiting" → NOT_YET_RECRUITING, "3" → PHASE3."""
    word = re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")
    if word.isdigit():
        return f"PHASE{word}"
    return word.replace("PHASE_", "PHASE")


def field_matches(key: str, wanted: tuple[str, ...], found: Facets) -> bool:
    """Any of the wanted values matches the trial's field."""
    if key == "phase":
        have = {code(p) for p in found.phase}
        return any(code(w) in have for w in wanted)
    if key == "status":
        return found.status is not None and any(code(w) == found.status for w in wanted)
    values: list[str] = getattr(found, key)
    return any(name_matches(w, v) for w in wanted for v in values)


def holds(
    sub: Subscription, nct: str, record: dict[str, Any] | None, members: set[str] | None
) -> bool:
    """Whether the slice holds a trial (``members``: its search's members, when it has one)."""
    return holds_facets(sub, nct, facets(record) if record is not None else None, members)


def holds_facets(
    sub: Subscription, nct: str, found: Facets | None, members: set[str] | None
) -> bool:
    """``holds``, from the trial's facets (None: the store holds no record of it)."""
    if nct in sub.trials:
        return True
    if members is not None and nct in members:
        return True
    if not sub.fields or found is None:
        return not sub.fields and not sub.trials and not sub.search and found is not None
    return all(field_matches(key, wanted, found) for key, wanted in sub.fields)


def members_of(
    sub: Subscription,
    trials: Iterable[str],
    latest: Callable[[str], dict[str, Any] | None],
    search: set[str] | None,
) -> list[str]:
    """Every trial of ``trials`` (the store's) the slice holds now."""
    out = []
    for nct in trials:
        if nct in sub.trials or (search is not None and nct in search):
            out.append(nct)
            continue
        if not sub.fields and (sub.trials or sub.search):
            continue
        if holds(sub, nct, latest(nct), search):
            out.append(nct)
    return out
