"""trialwatch site, tested as a person sees it: the pages built from a real store (a trial's
backfilled registry history, checks with real edits, a search whose members come and go, hostile
registry text), loaded from disk in headless Chromium (the rendered DOM, console errors, links
that resolve, a screenshot per page kind kept in test-artifacts/), and every feed validated with
feedparser and against the Atom schema's required elements."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from tests.conftest import cli, edited, load
from tests.history_data import serve_series
from tests.registry_server import Registry, query_key, serve

pytestmark = [pytest.mark.usefixtures("each_store"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TRIALWATCH_ARTIFACTS", ROOT / "test-artifacts"))
ATOM = "{http://www.w3.org/2005/Atom}"
HISTORY = "NCT03934567"  # its registry versions come from tests/history_data.py
EDITED = "NCT03064438"
OTHER = "NCT04207047"
EVIL = '<script>alert("x")</script> \x1b]8;;https://evil.test/\x1b\\click\x1b]8;;\x1b\\'
ASTHMA = {"query.cond": "asthma"}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    return found


def browse(page: Path, *, shot: Path | None = None, width: int = 1200) -> tuple[str, str]:
    """Load a page from disk in headless Chromium: (rendered DOM, what the browser logged)."""
    profile = page.parent / f".chromium-{os.getpid()}"
    args = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={width},1600",
        "--virtual-time-budget=2000",
    ]
    args += [f"--screenshot={shot}"] if shot else ["--dump-dom"]
    ran = subprocess.run(
        [*args, page.resolve().as_uri()], capture_output=True, text=True, timeout=120
    )
    shutil.rmtree(profile, ignore_errors=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    return ran.stdout, ran.stderr


def overflow(page: Path, width: int) -> tuple[int, int]:
    """(scroll width, visible width) of a page shown in a frame ``width`` px wide, in headless
    Chromium (the window itself cannot be made narrower than 500 px there)."""
    wrap = page.with_name(f".frame-{os.getpid()}.html")
    wrap.write_text(
        f'<!DOCTYPE html><html><body><iframe id="f" src="{page.name}" '
        f'style="width:{width}px;height:900px;border:0"></iframe><script>'
        "document.getElementById('f').addEventListener('load',function(){var d=this."
        "contentDocument.documentElement;document.title='W'+d.scrollWidth+' C'+d.clientWidth})"
        "</script></body></html>",
        encoding="utf-8",
    )
    profile = page.parent / f".chromium-{os.getpid()}"
    try:
        ran = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--allow-file-access-from-files", f"--user-data-dir={profile}",
             "--window-size=800,1000", "--virtual-time-budget=3000", "--dump-dom",
             wrap.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        wrap.unlink()
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r"<title>W(\d+) C(\d+)</title>", ran.stdout)
    assert found, ran.stdout[:500] + ran.stderr[-500:]
    return int(found.group(1)), int(found.group(2))


def console_errors(log: str) -> list[str]:
    """Lines where the page's own script or resources failed (not Chromium's own chatter)."""
    return [
        line
        for line in log.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
    ]


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag in ("a", "link") and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag in ("script", "img", "iframe") and values.get("src"):
            self.srcs.append(str(values["src"]))


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


@pytest.fixture
def site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Path, Registry]]:
    """A watch of three trials and one search, checked over three registry days, and its site."""
    reg = Registry()
    serve_series(reg)
    edited_one, other = load(f"{EDITED}.json"), load(f"{OTHER}.json")
    reg.put(edited_one)
    reg.put(other)
    reg.queries[query_key(ASTHMA)] = [EDITED, OTHER]
    with serve(reg) as url:
        Path("trialwatch.toml").write_text(
            f'api_url = "{url}"\nhistory_url = "{url.replace("/api/v2", "/api/int")}"\n'
            "request_interval = 0\n"
            f'trials = ["{HISTORY}", {{ id = "{EDITED}", label = "Rosacea <b>gel</b>" }}, '
            f'"{OTHER}"]\n',
            encoding="utf-8",
        )
        assert cli(capsys, "watch", "add", "--query", "cond=asthma", "--label", "Asthma")[0] == 0
        code, _, err = cli(capsys, "backfill", HISTORY)
        assert code == 0, err
        code, _, err = cli(capsys, "check", "-q")
        assert code == 0, err
        # Day 2: the sponsor terminates one trial, with hostile text in its reason; a trial
        # leaves the search.
        reg.put(
            edited(
                edited_one,
                lambda r: r["protocolSection"]["statusModule"].update(
                    overallStatus="TERMINATED", whyStopped=EVIL, lastUpdateSubmitDate="2026-11-25"
                ),
            )
        )
        reg.queries[query_key(ASTHMA)] = [EDITED]
        reg.data_timestamp = "2026-11-26T09:00:00"
        assert cli(capsys, "check", "-q")[0] == 1

        # Day 3: its eligibility is reworded and the other trial joins the search again.
        def reword(r: dict[str, Any]) -> None:
            module = r["protocolSection"]["eligibilityModule"]
            module["eligibilityCriteria"] = module["eligibilityCriteria"].replace(
                "at least 18 years of age", "at least 21 years of age"
            )
            r["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2026-11-26"

        reg.put(edited(reg.studies[EDITED], reword))
        reg.queries[query_key(ASTHMA)] = [EDITED, OTHER]
        reg.data_timestamp = "2026-11-27T09:00:00"
        assert cli(capsys, "check", "-q")[0] == 1
        out = tmp_path / "site"
        code, _, err = cli(capsys, "site", str(out), "--today", "2026-12-04")
        assert code == 0, err
        assert "3 trials, 1 search; 4 pages written, 0 unchanged" in err
        yield out, reg


def test_the_site_reads_in_a_real_browser(site: tuple[Path, Registry]) -> None:
    out, _ = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    search = next((out / "searches").glob("q*.html"))
    pages = {
        "index": out / "index.html",
        "trial": out / "trials" / f"{HISTORY}.html",
        "trial-edited": out / "trials" / f"{EDITED}.html",
        "search": search,
    }
    for kind, page in pages.items():
        dom, log = browse(page)
        assert not console_errors(log), console_errors(log)
        assert "<script>alert" not in dom and "evil.test" not in dom and "]8;;" not in dom
        browse(page, shot=ARTIFACTS / f"site-{kind}.png")
        assert (ARTIFACTS / f"site-{kind}.png").stat().st_size > 10_000
        if kind == "index":
            rows = re.findall(r'<a href="trials/(NCT\d{8})\.html">', dom)
            assert rows == [HISTORY, EDITED, OTHER]
            assert 'id="filter"' in dom  # the script ran: a filter box above the table
            assert "Terminated" in dom and "Rosacea &lt;b&gt;gel&lt;/b&gt;" in dom
            assert "Asthma" in dom and "2 trials" in dom
        elif kind == "trial":
            assert "<svg" in dom and 'class="today"' in dom and "results due" in dom
            assert "How to read the picture" in dom
            assert "Primary completion slipped" in dom
            # Newest first: the last registry version's change comes before the first's.
            changes = dom[dom.index("Changes, newest first") :]
            assert changes.index("Active, not recruiting (+") < changes.index(
                "Not yet recruiting →"
            )
        elif kind == "trial-edited":
            assert "Overall status Completed → Terminated" in dom
            # Word-level change, marked: not brackets in plain text.
            assert "<del>18</del>" in dom and "<ins>21</ins>" in dom
            # Newest first: the rewording (submitted 2026-11-26) above the termination.
            assert dom.index("2026-11-26 —") < dom.index("2026-11-25 —")
        else:
            assert EDITED in dom and OTHER in dom and "Joined" in dom
        # On a phone (390 px): no sideways scrolling; the history picture fits.
        scroll, visible = overflow(page, 390)
        assert scroll <= visible, f"{kind} scrolls sideways on a phone: {scroll} > {visible}"


def test_every_link_resolves_and_nothing_is_fetched_from_elsewhere(
    site: tuple[Path, Registry],
) -> None:
    out, _ = site
    for page in out.rglob("*.html"):
        links = parse(page)
        assert not links.srcs, (page, links.srcs)  # no script, image or frame from anywhere
        for href in links.hrefs:
            target = urlparse(href)
            if target.scheme in ("http", "https"):
                assert target.netloc == "clinicaltrials.gov", href  # the registry's own page
                continue
            assert not target.scheme and not target.netloc, href
            path = (page.parent / unquote(target.path)).resolve() if target.path else page
            assert path.exists(), (page, href)
            if target.fragment:
                assert target.fragment in parse(path).ids, (page, href)


def test_every_feed_is_valid_atom(site: tuple[Path, Registry]) -> None:
    feedparser = pytest.importorskip("feedparser")
    out, _ = site
    feeds = [out / "feed.atom", *out.glob("trials/*.atom"), *out.glob("searches/*.atom")]
    assert len(feeds) == 5
    ids: set[str] = set()
    for path in feeds:
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.version == "atom10"
        root = ET.parse(path).getroot()
        assert root.tag == f"{ATOM}feed"
        for name in ("id", "title", "updated", "author"):  # RFC 4287 4.1.1
            assert root.find(f"{ATOM}{name}") is not None, (path, name)
        for entry in root.findall(f"{ATOM}entry"):
            for name in ("id", "title", "updated", "link", "content"):
                assert entry.find(f"{ATOM}{name}") is not None, (path, name)
            when = entry.findtext(f"{ATOM}updated") or ""
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", when), when
            if path.name != "feed.atom":
                ids.add(entry.findtext(f"{ATOM}id") or "")
        text = path.read_text(encoding="utf-8")
        assert "<script>" not in text and "\x1b" not in text and "]8;;" not in text
    trial = feedparser.parse((out / "trials" / f"{EDITED}.atom").read_bytes())
    titles = [e.title for e in trial.entries]
    assert len(titles) == 2 and "Overall status Completed → Terminated" in titles[1]
    assert "&lt;script&gt;" in trial.entries[1].content[0].value  # escaped, kept
    search = feedparser.parse(next(out.glob("searches/*.atom")).read_bytes())
    assert [e.title for e in search.entries] == [
        "Asthma: 1 joined",
        "Asthma: 1 left",
        "Asthma: 2 joined",
    ]
    whole = feedparser.parse((out / "feed.atom").read_bytes())
    assert {e.id for e in whole.entries} == ids  # the whole watch: every trial's and search's


def test_rebuilt_incrementally_with_stable_ids(
    site: tuple[Path, Registry], capsys: pytest.CaptureFixture[str]
) -> None:
    out, reg = site
    feed_before = (out / "trials" / f"{EDITED}.atom").read_text(encoding="utf-8")
    page = out / "trials" / f"{HISTORY}.html"
    stamp = page.stat().st_mtime_ns
    code, _, err = cli(capsys, "site", str(out), "--today", "2026-12-04")
    assert code == 0 and "0 pages written" not in err and "3 unchanged" in err, err
    assert page.stat().st_mtime_ns == stamp  # not even rewritten
    # One trial changes: only its page is built again; its old entries keep their ids.
    reg.put(
        edited(
            reg.studies[OTHER],
            lambda r: r["protocolSection"]["statusModule"].update(overallStatus="WITHDRAWN"),
        )
    )
    reg.data_timestamp = "2026-11-28T09:00:00"
    assert cli(capsys, "check", "-q")[0] == 1
    code, _, err = cli(capsys, "site", str(out), "--today", "2026-12-04")
    assert code == 0 and "2 unchanged" in err, err
    assert (out / "trials" / f"{EDITED}.atom").read_text(encoding="utf-8") == feed_before
    assert "Withdrawn" in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.folder_only
def test_site_needs_a_watch_and_stays_out_of_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "site", str(tmp_path / "s"))
    assert code == 2 and "nothing to show" in err
    Path("watchlist.toml").write_text('trials = ["NCT06224738"]\n', encoding="utf-8")
    code, _, err = cli(capsys, "site", "snapshots/site")
    assert code == 2 and "outside the snapshot folder" in err
    code, _, err = cli(capsys, "site", str(tmp_path / "s"))
    assert code == 0 and "Not checked yet" in (tmp_path / "s" / "index.html").read_text()


def test_a_trial_that_cannot_be_read_leaves_the_published_site_as_it_was(
    site: tuple[Path, Registry], capsys: pytest.CaptureFixture[str]
) -> None:
    """A passing fault (one trial's snapshot unreadable) never takes a trial off the index or
    the feed: its page stays as it was, and the build says what failed and exits 2."""
    from tests import stores

    out, _ = site
    index = (out / "index.html").read_text(encoding="utf-8")
    feed = (out / "feed.atom").read_text(encoding="utf-8")
    page = (out / "trials" / f"{EDITED}.html").read_text(encoding="utf-8")
    assert EDITED in index and f"trials/{EDITED}.html" in feed
    name = stores.snapshot_names(EDITED)[-1]
    stores.damage_snapshot(EDITED, name)
    # A new day's build: the damaged trial's page must be built again, and cannot be.
    code, _, err = cli(capsys, "site", str(out), "--today", "2026-12-05", "--full")
    assert code == 2, err
    assert f"{EDITED}:" in err and "error" in err
    assert f'<a href="trials/{EDITED}.html">' in (out / "index.html").read_text(encoding="utf-8")
    assert f"trials/{EDITED}.html" in (out / "feed.atom").read_text(encoding="utf-8")
    assert (out / "trials" / f"{EDITED}.html").read_text(encoding="utf-8") == page
