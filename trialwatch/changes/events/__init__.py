"""The event layer: what a reader watches for, above the field changes. Each detector reads
both records and the field changes and says, in one headline, what happened, how much it
matters and who most likely did it. A field change no event explains is still reported.

Where each is decided: ``status`` (status changes, regressions, the registry's Unknown),
``results`` (the results lifecycle and deadline), ``safety`` (deaths and serious adverse events
revised upward after posting), ``reported`` (posted results against the
registration, a posted result corrected), ``outcomes`` (outcome switching), ``timing``
(key dates, enrollment, after-the-fact edits), ``design`` (masking, allocation, phase and
the rest of the design), ``eligibility`` (loosened or tightened),
``sites`` (counts, countries, renames), ``registry`` (PubMed links, publication bookkeeping),
``arms`` (an arm dropped, merged or relabelled, an intervention renamed), ``sponsors``
(a new lead sponsor, collaborators joining or leaving), ``groups`` (one edit
repeated across many items)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from trialwatch.changes.events import (
    arms,
    design,
    eligibility,
    groups,
    outcomes,
    registry,
    reported,
    results,
    safety,
    sites,
    sponsors,
    status,
    timing,
)
from trialwatch.changes.events.scene import Scene
from trialwatch.model import Change, Event

log = logging.getLogger("trialwatch")

_DETECTORS = (
    status,
    results,
    safety,
    reported,
    outcomes,
    timing,
    design,
    eligibility,
    arms,
    sites,
    sponsors,
    registry,
)


def detect_events(
    nct_id: str, old: dict[str, Any], new: dict[str, Any], changes: list[Change]
) -> tuple[list[Change], list[Event]]:
    """Events found between two (normalised) records, and the changes with their computed
    fields filled in. The changes must have their ids."""
    scene = Scene(nct_id, old, new, changes)
    events: list[Event] = []
    for detector in _DETECTORS:
        mark = len(events)
        try:
            events.extend(detector.detect(scene))
        except Exception:
            # A record shape a detector does not know: its field changes are still reported.
            log.debug("%s: %s could not read the record", nct_id, detector.__name__, exc_info=True)
            del events[mark:]
    try:
        events = groups.merge_time_frames(scene, events)
    except Exception:
        log.debug("%s: grouping time frames failed", nct_id, exc_info=True)
    scene.explained = {i for e in events for i in e.changes}
    try:
        events.extend(groups.detect(scene))
    except Exception:
        log.debug("%s: grouping failed", nct_id, exc_info=True)
    events = [e for e in events if e.changes]
    events.sort(key=lambda e: e.rank)
    silent = {i for e in events if e.silent for i in e.changes}
    loud = {i for e in events if not e.silent for i in e.changes}
    out = []
    for c in changes:
        computed = scene.computed.get(c.id)
        if computed:
            c = replace(c, computed={**c.computed, **computed})
        if c.id in silent and c.id not in loud:
            c = replace(c, material=False)
        out.append(c)
    return out, events
