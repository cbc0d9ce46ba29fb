"""The documentation site builds with ``mkdocs build --strict`` and renders in headless Chromium.

Needs the ``docs`` extra (and Chromium with its driver for the browser tests). Without them
the module is skipped, unless ``RIRN_REQUIRE_DOCS=1`` (set by ``.ci/run``): then anything
missing fails.
"""

from __future__ import annotations

import functools
import html as html_module
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("RIRN_REQUIRE_DOCS") == "1"
CORE = (
    "InnerRecurrence",
    "AdaptiveTemporalBlend",
    "DynamicTemporalBlend",
    "GlobalSpatioTemporalAttention",
    "wrap_recurrent_cell",
)
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)
# Every <img> of the page's content area: [src, loaded], loaded = complete && naturalWidth > 0.
IMAGES_JS = (
    "return Array.from(document.querySelectorAll('article img'))"
    ".map(img => [img.getAttribute('src'), img.complete && img.naturalWidth > 0]);"
)


# Every pre/code of the content area whose box (or that of the outermost element clipping it
# inside the article, e.g. a table's scroll wrapper) reaches beyond the content area
# (.md-content): [tag, left, right, content left, content right, text]. A block whose long
# lines scroll inside it (scrollWidth > clientWidth) is fine.
OVERFLOW_JS = """
const article = document.querySelector('article');
const area = document.querySelector('.md-content').getBoundingClientRect();
const clips = el => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
const bad = [];
for (const el of article.querySelectorAll('pre, code')) {
  let box = el;
  for (let up = el.parentElement; up && up !== article; up = up.parentElement) {
    if (clips(up)) box = up;
  }
  const r = box.getBoundingClientRect();
  if (r.width > 0 && (r.right > area.right + 1 || r.left < area.left - 1)) {
    bad.push([el.tagName.toLowerCase(), r.left, r.right, area.left, area.right,
              el.textContent.trim().slice(0, 100)]);
  }
}
return bad;
"""
# Every code block (pre > code) of the content area that scrolls: [scrollWidth, clientWidth,
# its longest line].
SCROLLING_JS = """
return Array.from(document.querySelectorAll(arguments[0]))
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => [el.scrollWidth, el.clientWidth,
              el.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '')]);
"""
# The widths the overflow check runs at: a desktop and a phone.
WINDOWS = ((1280, 1000), (390, 844))


def need(module: str) -> ModuleType:
    """Import ``module``; skip without it, or fail when the docs are required."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if REQUIRED:
            pytest.fail(f"RIRN_REQUIRE_DOCS=1 but {module} is missing: {err}", pytrace=False)
        pytest.skip(f"{module} is in the docs extra: pip install '.[docs]'")


if not REQUIRED:
    for _name in ("mkdocs", "material", "mkdocstrings_handlers.python", "latex2mathml"):
        pytest.importorskip(_name, reason="the docs extra: pip install '.[docs]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built strictly (any warning fails) into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    if result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n")
    assert result.returncode == 0, "mkdocs build --strict failed (output above)"
    return out


class _Headings(HTMLParser):
    """Collects ``(id, text)`` of every h1-h6 element."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str | None, str]] = []
        self._open: list[Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._open = [dict(attrs).get("id"), []]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._open is not None:
            self.headings.append((self._open[0], "".join(self._open[1]).strip()))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[1].append(data)


def test_api_page_renders_core_headings(site: Path) -> None:
    parser = _Headings()
    parser.feed((site / "api" / "index.html").read_text(encoding="utf-8"))
    headings = dict(parser.headings)
    for name in CORE:
        anchor = f"rirn_layers.{name}"
        assert anchor in headings, f"no heading for {name} on the API page"
        assert headings[anchor].split()[0] == anchor, headings[anchor]


def test_math_is_mathml_at_build_time(site: Path) -> None:
    html = (site / "layers" / "index.html").read_text(encoding="utf-8")
    assert html.count("<math ") >= 10
    assert "\\(" not in html and "\\[" not in html and "\\tilde" not in html


def _text(fragment: str) -> str:
    return html_module.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_api_signatures_are_formatted_one_parameter_a_line(site: Path) -> None:
    # mkdocstrings-python formats separate signatures with ruff (the docs extra) or black;
    # without either they come out as one long line each
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    blocks = re.findall(r'<div class="doc-signature[^"]*">.*?<code>(.*?)</code>', page, re.S)
    signatures = [_text(block).strip() for block in blocks]
    assert len(signatures) >= 50, len(signatures)
    longest = max(signatures, key=lambda s: max(map(len, s.splitlines())))
    assert max(map(len, longest.splitlines())) <= 88, f"unformatted signature: {longest}"
    assert sum("\n    " in s for s in signatures) >= 20  # the long ones: a parameter a line


def test_api_page_has_no_raw_math_delimiters(site: Path) -> None:
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    content = page[page.index("<article"): page.index("</article>")]
    prose = re.sub(r"<(code|pre)\b.*?</\1>", "", content, flags=re.S)  # code may hold $, \(
    assert not re.search(r"\\\(|\\\[|\$[^$\s][^$]*\$", _text(prose)), "raw TeX on the API page"
    assert content.count('class="arithmatex"') == content.count("<math "), "unconverted TeX"


def test_docstring_math_renders_as_mathml(tmp_path: Path) -> None:
    # maths in docstrings goes through the same pipeline as the pages' (pymdownx.arithmatex
    # in mkdocstrings' Markdown, then docs_hooks/mathml.py): a site of this project's
    # settings documenting a module whose docstring holds inline and display maths
    yaml = need("yaml")
    (tmp_path / "docs").mkdir()
    (tmp_path / "mathdoc.py").write_text(
        'def blend(w: float) -> float:\n'
        '    r"""Blend $\\tilde f_t = w_t f_t$, and\n\n'
        '    $$\n    \\tilde h_t = \\operatorname{IRM}(h_t, \\tilde h_{t-1})\n    $$\n\n'
        '    Args:\n        w: a weight $w_t \\ge 0$.\n    """\n    return w\n'
    )
    (tmp_path / "docs" / "index.md").write_text("# Maths\n\n::: mathdoc.blend\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config.update(docs_dir=str(tmp_path / "docs"), site_dir=str(tmp_path / "site"),
                  nav=[{"Home": "index.md"}], hooks=[str(ROOT / h) for h in config["hooks"]])
    config.pop("not_in_nav", None)
    config.pop("extra_css", None)
    python = next(p["mkdocstrings"] for p in config["plugins"] if isinstance(p, dict)
                  and "mkdocstrings" in p)["handlers"]["python"]
    python["paths"] = [str(tmp_path)]
    python["options"]["extensions"] = [str(ROOT / e) if isinstance(e, str) else e
                                       for e in python["options"]["extensions"]]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q"], cwd=tmp_path,
        capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert page.count("<math ") == 3 and page.count('display="block"') == 1
    assert "\\tilde" not in page and "\\(" not in page and "$" not in _text(page)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    """The site over HTTP on 127.0.0.1, a free port, in a background thread."""
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through the system chromedriver (Selenium Manager never runs)."""
    webdriver = need("selenium.webdriver")
    service_module = need("selenium.webdriver.chrome.service")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    for path in (chromium, chromedriver):
        if not os.access(path, os.X_OK):
            message = f"{Path(path).name} not found (apt-get install chromium chromium-driver)"
            if REQUIRED:
                pytest.fail(f"RIRN_REQUIRE_DOCS=1 but {message}", pytrace=False)
            pytest.skip(message)
    profile = tempfile.mkdtemp(prefix="rirn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (*CHROME_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = None
    try:
        driver = webdriver.Chrome(
            service=service_module.Service(executable_path=chromedriver), options=options
        )
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_home_page_links_to_the_api_reference(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/")
    assert browser.title == "rirn-layers"
    link = browser.find_element(
        By.XPATH, "//nav[contains(@class, 'md-nav--primary')]//a[normalize-space()='API reference']"
    )
    link.click()
    assert browser.current_url == f"{server}/api/"
    assert browser.title.startswith("API reference")
    text = browser.find_element(By.TAG_NAME, "article").text
    for name in CORE:
        assert name in text, f"{name} is not visible on the API page"


def test_layers_page_shows_rendered_math(browser: Any, server: str) -> None:
    browser.get(f"{server}/layers/")
    sizes = browser.execute_script(
        "return Array.from(document.querySelectorAll('article math'))"
        ".map(m => m.getBoundingClientRect().width);"
    )
    assert len(sizes) >= 10 and all(width > 0 for width in sizes)


def test_performance_figures_load(browser: Any, server: str) -> None:
    # the plots that read at page width; the wide multi-panel ones are linked full size
    browser.get(f"{server}/performance/")
    images = browser.execute_script(IMAGES_JS)
    names = sorted(Path(src).name for src, _ in images)
    assert names == ["fast_path.png", "options.png", "overhead.png", "roofline.png"], names
    assert all(loaded for _, loaded in images), images


def test_inspection_figures_load(browser: Any, server: str) -> None:
    # the four figures examples/inspection_figures.py draws (RIRN figs. 3, 4, 6, 7-9)
    browser.get(f"{server}/inspection/")
    images = browser.execute_script(IMAGES_JS)
    names = sorted(Path(src).name for src, _ in images)
    assert names == ["blend_maps.png", "comparison.png", "state_maps.png", "weight_sums.png"]
    assert all(loaded for _, loaded in images), images


def _pages(site: Path) -> list[str]:
    """The site's pages, as paths from its root ("" for the home page)."""
    pages = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return ["" if p == "." else f"{p}/" for p in pages]


def test_no_code_reaches_beyond_the_content_area(browser: Any, server: str, site: Path) -> None:
    try:
        for width, height in WINDOWS:
            browser.set_window_size(width, height)
            for page in _pages(site):
                browser.get(f"{server}/{page}")
                bad = browser.execute_script(OVERFLOW_JS)
                assert not bad, (
                    f"/{page} at {width} px: {len(bad)} pre/code elements reach beyond the "
                    f"content area; the first: {bad[0]}"
                )
    finally:
        browser.set_window_size(1280, 1000)


def test_home_page_code_blocks_fit_without_scrolling(browser: Any, server: str) -> None:
    browser.get(f"{server}/")
    blocks = browser.execute_script("return document.querySelectorAll('article pre').length;")
    assert blocks >= 5  # the installs, the retrofit snippet, the main job
    scrolling = browser.execute_script(SCROLLING_JS, "article pre > code")
    assert not scrolling, f"code blocks of the home page scroll (clipped): {scrolling}"


def test_api_signatures_wrap_instead_of_scrolling(browser: Any, server: str) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{server}/api/")
        scrolling = browser.execute_script(SCROLLING_JS, "article .doc-signature pre > code")
    finally:
        browser.set_window_size(1280, 1000)
    assert not scrolling, f"{len(scrolling)} API signatures scroll; the first: {scrolling[0]}"
