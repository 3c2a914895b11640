"""A seeded mutator over real records, shared by the fuzz test and ``benchmarks/fuzz.py``: each
mutation is something a registry answer (or a damaged file) could carry."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from trialwatch.errors import FetchError
from trialwatch.model import RunReport
from trialwatch.pipeline.compare import CheckOptions, Observer
from trialwatch.pipeline.deliver import delivered
from trialwatch.record import Fetched
from trialwatch.registry.client import parse_study
from trialwatch.render.html import render_html
from trialwatch.render.json_report import render_json
from trialwatch.render.markdown import render_markdown
from trialwatch.render.text import render_text
from trialwatch.store.port import Store

WEIRD: list[Any] = [
    "\ud800",
    "x\udfffy",
    "\x1b[2J",
    "\x00",
    "\u202e",
    "",
    None,
    0,
    -1,
    2**70,
    1e308,
    True,
    [],
    {},
    "2026-13-45",
    "NOT_A_STATUS",
    {"date": None},
    [None],
    "a" * 5000,
    # What issue 30 found in real use: noncharacters XML forbids, damaged letters and their
    # repair, a terminal hyperlink, C1 controls.
    "\ufffe",
    "x\uffffy",
    'Hă"Pital Foch',
    "HÃ´pital Foch",
    "\x1b]8;;https://evil.test/\x1b\\click\x1b]8;;\x1b\\",
    "\x85\x86",
]
# What no report, page or feed may carry, whatever the registry sent.
FORBIDDEN = ("\x00", "\ufffe", "\uffff", "\x1b", "\x85")


def _containers(value: Any) -> list[Any]:
    out, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            out.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    return out


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {"n": value} if i % 2 else [value]
    return value


def mutate(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(record)
    nodes = _containers(out)
    for _ in range(rng.randint(1, 4)):
        node = rng.choice(nodes)
        kind = rng.random()
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
            if key == "nctId" and node is out["protocolSection"]["identificationModule"]:
                continue
            if kind < 0.4:
                node[key] = rng.choice(WEIRD)
            elif kind < 0.55:
                del node[key]
            elif kind < 0.65:
                node[key] = _nest(rng.choice([50, 200, 600]))
            elif kind < 0.8 and isinstance(node[key], str):
                text = node[key]
                cut = rng.randint(0, len(text))
                node[key] = text[:cut] + str(rng.choice(WEIRD)) + text[cut:]
            else:
                node[rng.choice(["\ud801key", "x" * 10, "types"])] = rng.choice(WEIRD)
        elif isinstance(node, list):
            if node and kind < 0.3:
                node.pop(rng.randrange(len(node)))
            elif node and kind < 0.6:
                node.append(copy.deepcopy(rng.choice(node)))
            else:
                node.insert(0, rng.choice(WEIRD))
    return out


def through_everything(
    store: Store, old: dict[str, Any], new: dict[str, Any], at: str
) -> RunReport:
    """A mutated record as the registry would serve it: JSON text (lone surrogates as
    escapes) → the client's parser → a check against the store → every renderer."""
    body = json.dumps(new, ensure_ascii=True).encode()
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    nct = old["protocolSection"]["identificationModule"]["nctId"]
    run = RunReport(at)
    with store.locked():
        observer = Observer(store, CheckOptions())
        try:
            record, print_ = parse_study(response, "the test")
        except FetchError:
            return run  # refused with a clear message: not a crash
        fetched = Fetched(nct, record, "http://127.0.0.1/", at, nct, fingerprint=print_)
        run.trials.append(observer.observe(fetched))
        renderers: list[Callable[[RunReport], str]] = [
            render_text,
            render_markdown,
            render_html,
            render_json,
        ]
        for render in renderers:
            text = render(run)
            text.encode("utf-8")
            for bad in FORBIDDEN:
                assert bad not in text, (render.__name__, repr(bad))
        delivered(store, "stdout", run.trials)
    return run
