"""Invariants of normalising, diffing and storing, checked with hypothesis on real records."""

from __future__ import annotations

import contextlib
import copy
import itertools
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.conftest import all_records, load
from trialwatch.changes.differ import diff_records
from trialwatch.changes.match import IDENTITY, schema_of
from trialwatch.changes.normalize import digest, normalize_record
from trialwatch.changes.textnorm import display_text, text_key
from trialwatch.registry.client import Fetched
from trialwatch.store import SnapshotStore, read_record_file

RECORDS = all_records()
SMALL = [r for r in RECORDS if len(str(r)) < 120_000]
PROFILE = settings(
    max_examples=int(__import__("os").environ.get("TW_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Path_ = tuple[str | int, ...]


def leaves(node: Any, path: Path_ = ()) -> list[Path_]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in leaves(v, (*path, i))]
    return [path]


def set_at(record: dict[str, Any], path: Path_, value: Any) -> None:
    node: Any = record
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def get_at(record: dict[str, Any], path: Path_) -> Any:
    node: Any = record
    for key in path:
        node = node[key]
    return node


def nct(record: dict[str, Any]) -> str:
    value = record["protocolSection"]["identificationModule"]["nctId"]
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("index", range(len(RECORDS)))
def test_a_record_diffed_with_itself_is_empty(index: int) -> None:
    record = RECORDS[index]
    assert diff_records(nct(record), record, copy.deepcopy(record)) == ([], [])


@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
@PROFILE
def test_display_text_is_idempotent(text: str) -> None:
    once = display_text(text)
    assert display_text(once) == once
    assert text_key(once) == text_key(text)


@given(index=st.integers(0, len(SMALL) - 1))
@PROFILE
def test_normalising_twice_equals_once(index: int) -> None:
    once = normalize_record(SMALL[index])
    assert normalize_record(once) == once
    assert digest(once) == digest(SMALL[index])


@given(index=st.integers(0, len(SMALL) - 1), seed=st.integers(0, 2**32 - 1))
@PROFILE
def test_shuffling_identity_matched_lists_is_not_a_change(index: int, seed: int) -> None:
    record = SMALL[index]
    shuffled = copy.deepcopy(record)
    rng = random.Random(seed)

    def shuffle(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, list) and key in IDENTITY:
                    rng.shuffle(value)
                shuffle(value)
        elif isinstance(node, list):
            for value in node:
                shuffle(value)

    shuffle(shuffled)
    assert diff_records(nct(record), record, shuffled)[0] == []
    assert digest(record) == digest(shuffled)


VOLATILE = ("derivedSection", "miscInfoModule", "versionHolder")
NEW_VALUES = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=12).map(lambda s: "Q" + s),
    st.integers(min_value=100_000, max_value=10**9),
    st.none(),
)


@given(data=st.data())
@PROFILE
def test_every_leaf_a_random_edit_changes_is_reported(data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(SMALL))
    paths = [
        p
        for p in leaves(record)
        if p[:3] != VOLATILE and p != ("protocolSection", "identificationModule", "nctId")
    ]
    leaf = data.draw(st.sampled_from(paths))
    value = data.draw(NEW_VALUES)
    old_value = get_at(record, leaf)
    assume(value != old_value and not (value is None and old_value in ("", None, [], {})))
    new = copy.deepcopy(record)
    set_at(new, leaf, value)
    changes, _ = diff_records(nct(record), record, new)
    leaf_schema = tuple(k for k in leaf if isinstance(k, str))
    reported = [schema_of(c.path) for c in changes]
    assert any(leaf_schema[: len(s)] == s for s in reported), (leaf, value, reported)


@given(data=st.data())
@PROFILE
def test_diff_both_ways_names_the_same_fields(data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(SMALL))
    paths = [
        p
        for p in leaves(record)
        if p[:3] != VOLATILE and p != ("protocolSection", "identificationModule", "nctId")
    ]
    edits = data.draw(
        st.lists(st.tuples(st.sampled_from(paths), NEW_VALUES), min_size=1, max_size=4)
    )
    new = copy.deepcopy(record)
    for leaf, value in edits:
        # An earlier edit may have replaced a parent of this leaf.
        with contextlib.suppress(KeyError, IndexError, TypeError):
            set_at(new, leaf, value)
    forward = {schema_of(c.path) for c in diff_records(nct(record), record, new)[0]}
    backward = {schema_of(c.path) for c in diff_records(nct(record), new, record)[0]}
    assert forward == backward


@given(
    index=st.integers(0, len(RECORDS) - 1),
    extra=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=3),
)
@settings(max_examples=30, deadline=None)
def test_a_stored_snapshot_loads_back_equal(
    tmp_path_factory: pytest.TempPathFactory, index: int, extra: dict[str, str]
) -> None:
    record = copy.deepcopy(RECORDS[index])
    record["trialwatchTestExtra"] = extra
    store = SnapshotStore(Path(tmp_path_factory.mktemp("store")))
    path = store.save(
        Fetched(nct(record), record, "http://127.0.0.1/x", "2026-11-25T00:00:00Z", nct(record))
    )
    assert read_record_file(path).record == record


@pytest.mark.slow
def test_whole_corpus_diffs_pairwise_without_error() -> None:
    """Every real record against every other (the download files included): no crash, and
    every change has a sentence, a label and a category."""
    for a in RECORDS:
        for b in RECORDS:
            changes, _ = diff_records(nct(b), a, b)
            for c in changes:
                assert c.sentence and c.label and c.category


def test_history_version_against_itself_and_api_shape() -> None:
    version = load("history-NCT04280705-v0.json")
    assert diff_records("NCT04280705", version, version) == ([], [])


def containers(node: Any, path: Path_ = ()) -> list[Path_]:
    out: list[Path_] = [path] if isinstance(node, dict | list) and node else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(containers(v, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(containers(v, (*path, i)))
    return out


@given(data=st.data())
@PROFILE
def test_every_structural_edit_is_reported(data: st.DataObject) -> None:
    """Keys removed or added, list items removed or duplicated: each is reported under the
    edited container's path or a parent's."""
    record = data.draw(st.sampled_from(SMALL))
    new = copy.deepcopy(record)
    places = [
        p
        for p in containers(new)
        if p[:2] != ("derivedSection", "miscInfoModule")
        and p != ("protocolSection", "identificationModule")
    ]
    place = data.draw(st.sampled_from(places))
    node = get_at(new, place)
    if isinstance(node, dict):
        op = data.draw(st.sampled_from(["delete", "add"]))
        if op == "delete":
            key = data.draw(st.sampled_from(sorted(node)))
            assume(node[key] not in (None, "", [], {}))
            del node[key]
        else:
            node["qqNewField"] = data.draw(NEW_VALUES.filter(lambda v: v is not None))
    else:
        op = data.draw(st.sampled_from(["delete", "duplicate"]))
        index = data.draw(st.integers(0, len(node) - 1))
        assume(node[index] not in (None, "", [], {}))
        if op == "delete":
            del node[index]
        else:
            node.append(copy.deepcopy(node[index]))
    changes, _ = diff_records(nct(record), record, new)
    place_schema = tuple(k for k in place if isinstance(k, str))
    reported = [schema_of(c.path) for c in changes]
    assert any(
        place_schema[: len(s)] == s or s[: len(place_schema)] == place_schema for s in reported
    ), (place, op, reported)


def _neighbours() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Neighbouring real records: each version of a real trial's life beside the next (from
    tests/history_data.py), and the two real downloads' versions of the trials both hold."""
    from tests.history_data import series

    pairs = []
    versions = [study for _index, study in series()]
    pairs += list(itertools.pairwise(versions))
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in RECORDS:
        by_id.setdefault(nct(r), []).append(r)
    for found in by_id.values():
        pairs += list(itertools.pairwise(found))
    return pairs


def test_events_over_neighbouring_real_records_keep_their_changes() -> None:
    """Every event of every neighbouring pair explains changes that are in the report, has a
    headline, and a record compared with itself raises no event and no change."""
    from trialwatch.changes.differ import compare

    pairs = _neighbours()
    assert len(pairs) >= 5
    for old, new in pairs:
        for a, b in ((old, new), (new, old)):
            found = compare(nct(b), a, b)
            ids = {c.id for c in found.changes}
            for e in found.events:
                assert e.headline.strip(), e
                if e.type.value not in ("signal_started", "signal_ended"):
                    assert e.changes and set(e.changes) <= ids, (e.type, e.headline)
        same = compare(nct(new), new, copy.deepcopy(new))
        assert same.changes == [] and same.events == []


@given(index=st.integers(0, len(SMALL) - 1))
@PROFILE
def test_no_headline_from_an_unchanged_record(index: int) -> None:
    """The event layer on a record against an exact copy of itself: nothing at all."""
    from trialwatch.changes.differ import compare

    record = SMALL[index]
    found = compare(nct(record), record, copy.deepcopy(record))
    assert found.events == [] and found.changes == []


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_JSON)
@settings(max_examples=400, deadline=None)
def test_snapshot_text_is_what_json_writes(value: Any) -> None:
    """Snapshots are written by a faster encoder than json's indenting one: byte for byte the
    same text, so a folder written before and after reads the same in git."""
    import json

    from trialwatch.changes.normalize import canonical_json

    assert (
        canonical_json(value)
        == json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )


@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True)
        | st.integers(min_value=-(2**80), max_value=2**80)
        | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=6),
        max_size=8,
    )
)
@settings(max_examples=1500, deadline=None)
def test_numbers_and_odd_strings_are_written_as_json_writes_them(value: list[Any]) -> None:
    """The shapes where orjson's text differs from json's (a float in exponent form, NaN, an
    integer past 64 bits, a lone surrogate, control characters): still json's text."""
    import json

    from trialwatch.changes.normalize import canonical_json

    expected = json.dumps({"v": value}, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert canonical_json({"v": value}) == expected


@given(_JSON)
@settings(max_examples=600, deadline=None)
def test_a_record_read_with_plain_numbers_is_written_as_json_writes_it(value: Any) -> None:
    """A page's records are read by a decoder that notes the numbers orjson writes otherwise
    (NumberWatch); a record it found none in is written without the guard's search: still
    json's text, byte for byte, whatever the value holds (NaN, 1e-7, 2**70, odd strings)."""
    import json

    from trialwatch.changes.normalize import canonical_json_bytes
    from trialwatch.registry.client import iter_page
    from trialwatch.sanitize import NumberWatch

    page = json.dumps({"studies": [value, {"v": value}], "nextPageToken": "t"})
    numbers = NumberWatch()
    read = []
    for record, _text in iter_page(page, {}, numbers):
        read.append((record, numbers.odd))
    assert len(read) == 2 and read[0][1] == read[1][1]
    record, odd = read[1]
    expected = json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if not odd:
        written = canonical_json_bytes(record, plain_numbers=True)
        assert written == expected.encode("utf-8", "surrogatepass")


def test_the_number_watch_notes_every_float_orjson_writes_otherwise() -> None:
    from trialwatch.registry.client import iter_page
    from trialwatch.sanitize import NumberWatch

    for text, odd in [
        ("1e-5", True), ("-0.00001", True), ("9.99e-5", True), ("NaN", True),
        ("Infinity", True), ("-Infinity", True), ("1e999", True),
        ("0.0001", False), ("0.0", False), ("-0.0", False), ("1e16", False), ("1.5e300", False),
        ("12", False), ("123456789012345678901234", False), ('"1e-5"', False),
    ]:  # fmt: skip
        numbers = NumberWatch()
        seen = [numbers.odd for _ in iter_page('{"studies":[{"v":' + text + "}]}", {}, numbers)]
        assert seen == [odd], text


def test_every_real_record_is_written_as_json_writes_it() -> None:
    import json

    from trialwatch.changes.normalize import canonical_json

    for record in all_records():
        expected = json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert canonical_json(record) == expected


def test_floats_of_every_magnitude_are_written_as_json_writes_them() -> None:
    """The encoder's guard looks for the forms where orjson's float text differs (magnitudes
    under 1e-4, NaN, infinity); every other exponent, 1e+16 and up included, must already be
    written alike."""
    import json

    from trialwatch.changes.normalize import canonical_json

    values = [
        sign * float(f"{m}e{e}")
        for e in range(-330, 309)
        for m in ("1", "1.5", "2.2250738585072014", "9.999999999999999")
        for sign in (1, -1)
    ]
    values += [float("nan"), float("inf"), -float("inf")]
    for v in values:
        expected = json.dumps({"v": v}, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert canonical_json({"v": v}) == expected, v


def _nested(levels: int, leaf: Any, shape: str) -> Any:
    value = leaf
    for i in range(levels - 1):
        value = [value] if shape == "list" or (shape == "mixed" and i % 2) else {"k": value}
    return value


@pytest.mark.parametrize("shape", ["list", "dict", "mixed"])
@pytest.mark.parametrize("leaf", [[1], {"a": "x"}, [], {}])
def test_the_quick_depth_check_never_passes_a_record_the_walk_refuses(
    shape: str, leaf: Any
) -> None:
    """check_depth answers most records from orjson's indented text; around the limit (and
    past it) the walk decides, so a record is refused exactly when it nests too deeply."""
    from trialwatch.sanitize import MAX_DEPTH, RecordShapeError, check_depth, depth, shallow

    for levels in range(MAX_DEPTH - 3, MAX_DEPTH + 4):
        value = _nested(levels, leaf, shape)
        too_deep = depth(value) > MAX_DEPTH
        assert not (shallow(value) and too_deep), levels
        if too_deep:
            with pytest.raises(RecordShapeError):
                check_depth(value)
        else:
            check_depth(value)
    assert all(shallow(r) for r in RECORDS)  # real records: the fast answer


@given(_JSON)
@settings(max_examples=400, deadline=None)
def test_the_quick_depth_check_agrees_with_the_walk(value: Any) -> None:
    from trialwatch.sanitize import MAX_DEPTH, depth, shallow

    assert not shallow(value) or depth(value) <= MAX_DEPTH
    deep = _nested(
        MAX_DEPTH + 1, value if isinstance(value, list | dict) and value else [1], "mixed"
    )
    assert not shallow(deep)


def _slow_text_key(text: str) -> str:
    """text_key without its shortcut for plain text (the passes it spares)."""
    from trialwatch.changes import textnorm

    words: list[str] = []
    for line in textnorm._display_text(text).split("\n"):
        line = textnorm._HEADING.sub("", line)
        for _ in range(3):
            bare = textnorm._LIST_MARKER.sub("", line)
            if bare == line:
                break
            line = bare
        line = textnorm._EMPHASIS.sub(r"\2", line)
        if line:
            words.extend(line.split())
    return " ".join(words)


_ASCII_TEXT = st.text(alphabet=st.characters(min_codepoint=0x09, max_codepoint=0x7F), max_size=40)


@given(text=_ASCII_TEXT | st.text(max_size=40))
@settings(max_examples=3000, deadline=None)
@example("1. Cohort A")
@example("a) first")
@example("(iv) later")
@example("- item")
@example("NOT_YET_RECRUITING")
@example("**bold** text")
@example("# Heading")
@example("A &amp; B")
@example(">= 18 years")
@example("x  y")
@example(" lead")
def test_the_shortcut_for_plain_text_changes_nothing(text: str) -> None:
    """display_text and text_key return plain text as it is without their passes: only where
    the passes would have left it as it is."""
    from trialwatch.changes import textnorm

    display_text.cache_clear()
    text_key.cache_clear()
    assert display_text(text) == textnorm._display_text(text)
    assert text_key(text) == _slow_text_key(text)


def test_the_shortcut_for_plain_text_changes_nothing_in_real_records() -> None:
    from trialwatch.changes import textnorm

    def texts(node: Any) -> Any:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for v in node.values():
                yield from texts(v)
        elif isinstance(node, list):
            for v in node:
                yield from texts(v)

    seen = {t for record in RECORDS for t in texts(record)}
    plain = 0
    for text in seen:
        assert display_text(text) == textnorm._display_text(text), text
        assert text_key(text) == _slow_text_key(text), text
        plain += bool(textnorm._PLAIN_KEY.fullmatch(text))
    assert plain > len(seen) // 3  # the shortcut is taken by many real texts


def _loads_by_json(text: str | bytes) -> Any:
    """sanitize.loads as json alone would read it (the reference for its faster reader)."""
    import json

    from trialwatch.sanitize import needs_repair, repair_strings

    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    value = json.loads(text)
    return repair_strings(value) if needs_repair(text) else value


def _same_json(a: Any, b: Any) -> bool:
    import json

    def typed(v: Any) -> Any:  # a number's type counts (an integer read as a float must fail)
        if isinstance(v, dict):
            return {k: typed(x) for k, x in v.items()}
        if isinstance(v, list):
            return [typed(x) for x in v]
        return [type(v).__name__, repr(v)]

    return json.dumps(typed(a)) == json.dumps(typed(b))


@given(_JSON)
@settings(max_examples=600, deadline=None)
def test_records_are_read_as_json_reads_them(value: Any) -> None:
    """sanitize.loads reads with orjson where orjson reads as json does: the same values, of
    the same types, whatever the text holds (NaN, integers past 64 bits, lone surrogates)."""
    import json

    from trialwatch.sanitize import loads

    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        for given_as in (text, text.encode("utf-8", errors="surrogatepass")):
            assert _same_json(loads(given_as), _loads_by_json(given_as)), given_as


def test_odd_json_texts_are_read_as_json_reads_them() -> None:
    from trialwatch.sanitize import loads

    texts = [
        '{"count": 123456789012345678901234567890}',
        '{"count": 18446744073709551615, "n": -9223372036854775808}',
        '{"a": NaN, "b": Infinity, "c": -Infinity}',
        '{"t": "lone \\ud800 surrogate"}',
        '{"t": "pair \\ud83d\\ude00"}',
        '{"a": 1, "a": 2}',
        '{"x": 1e400, "y": 5e-324, "z": -0.0}',
        '{"id": "12345678901234567890123"}',
    ]
    for text in texts:
        for given_as in (text, text.encode("utf-8")):
            assert _same_json(loads(given_as), _loads_by_json(given_as)), text
    for record in RECORDS[:20]:
        import json

        text = json.dumps(record)
        assert _same_json(loads(text), _loads_by_json(text))
    for bad in ('{"a": ', '{"a": 1} x', b"\xff\xfe{}", "", "\ufeff{}"):
        with pytest.raises(ValueError):
            loads(bad)
