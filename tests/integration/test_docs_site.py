"""The built documentation site renders the API and the errors as promised.

The site is built once with ``mkdocs build --strict`` into a temporary directory, and
the generated HTML of the errors page and the API page is checked: every error has its
own section, the inherited methods of `DynamoDBSession` are rendered with the exceptions
their docstrings list, nothing is defined twice, and no reST ``::`` leaks into the text.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from openai_agents_session import errors
from openai_agents_session.store import SessionStore

ROOT = Path(__file__).resolve().parents[2]
SESSION = "openai_agents_session.dynamodb.DynamoDBSession"
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Methods of `DynamoDBSession`, most inherited from `SessionStore`, the API page renders.
METHODS = [
    "__init__",
    "from_config",
    "get_items",
    "add_items",
    "pop_item",
    "clear_session",
    "get_record",
    "set_attributes",
    "ping",
    "close",
]
ERRORS = sorted(
    name
    for name in errors.__all__
    if isinstance(getattr(errors, name), type)
    and issubclass(getattr(errors, name), errors.SessionStoreError)
)


class Page(HTMLParser):
    """What a generated page shows in its article and in its table of contents."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: dict[str, str] = {}  # heading id -> its text
        self.sections: dict[str, list[str]] = {}  # heading id -> text up to the next heading
        self.prose: list[str] = []  # article text outside <pre> and <code>
        self.preformatted: list[str] = []  # article text inside <pre>
        # Entries of each copy of the page's table of contents (Material renders one in
        # the right sidebar and one inside the navigation, for small screens).
        self.tocs: list[list[str]] = []
        self._article = 0
        self._code = 0
        self._pre = 0
        self._toc_navs = 0
        self._toc_link: list[str] | None = None
        self._heading: str | None = None
        self._section: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "nav" and (self._toc_navs or "md-nav--secondary" in classes):
            if not self._toc_navs:
                self.tocs.append([])
            self._toc_navs += 1
        elif tag == "a" and self._toc_navs and "md-nav__link" in classes:
            self._toc_link = []
        elif tag == "article":
            self._article += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "code":
            self._code += 1
        elif tag in HEADINGS and self._article and attributes.get("id"):
            heading_id = str(attributes["id"])
            self._heading = self._section = heading_id
            self.headings[heading_id] = ""
            self.sections[heading_id] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._toc_navs:
            self._toc_navs -= 1
        elif tag == "a" and self._toc_link is not None:
            self.tocs[-1].append(" ".join("".join(self._toc_link).split()))
            self._toc_link = None
        elif tag == "article":
            self._article -= 1
        elif tag == "pre":
            self._pre -= 1
        elif tag == "code":
            self._code -= 1
        elif tag in HEADINGS and self._heading is not None:
            self.headings[self._heading] = " ".join(self.headings[self._heading].split())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._toc_link is not None:
            self._toc_link.append(data)
        if not self._article:
            return
        if self._heading is not None:
            self.headings[self._heading] += data
        elif self._section is not None:
            self.sections[self._section].append(data)
        if self._pre:
            self.preformatted.append(data)
        elif not self._code:
            self.prose.append(data)

    @property
    def toc(self) -> list[str]:
        """The table of contents; every copy of it must be the same."""
        assert self.tocs, "the page has no table of contents"
        assert all(toc == self.tocs[0] for toc in self.tocs), self.tocs
        return self.tocs[0]

    def section(self, heading_id: str) -> str:
        """The text under a heading, up to the next heading, whitespace collapsed."""
        return " ".join(" ".join(self.sections[heading_id]).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site_dir),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return site_dir


@pytest.fixture(scope="module")
def errors_page(site: Path) -> Page:
    return Page((site / "api" / "errors" / "index.html").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def api_page(site: Path) -> Page:
    return Page((site / "api" / "dynamodb_session" / "index.html").read_text(encoding="utf-8"))


def documented_raises(method: object) -> list[str]:
    """The exception names of a Google-style docstring's ``Raises:`` section."""
    doc = inspect.getdoc(method) or ""
    _, found, rest = doc.partition("\nRaises:\n")
    assert found, f"{method!r} documents no Raises section"
    names = []
    for line in rest.splitlines():
        if line and not line.startswith(" "):
            break  # the next section
        match = re.match(r" {4}(\w+):", line)
        if match:
            names.append(match.group(1))
    return names


def raises_rendered(page: Page, heading_id: str) -> str:
    """The rendered Raises section under a heading (up to the source listing)."""
    text = page.section(heading_id)
    _, found, rest = text.partition("Raises:")
    assert found, f"no Raises section under {heading_id}: {text[:300]!r}"
    return rest.partition("Source code in")[0]


@pytest.mark.parametrize("name", ["errors", "api"])
def test_no_rest_literal_marker_in_the_text(name: str, errors_page: Page, api_page: Page) -> None:
    page = errors_page if name == "errors" else api_page
    leaked = [text.strip() for text in page.prose if "::" in text]
    assert not leaked, leaked


def test_errors_page_has_a_section_per_error(errors_page: Page) -> None:
    assert {"SessionClosedError", "WriteOutcomeUnknownError"} <= set(ERRORS)
    for name in ERRORS:
        heading_id = f"openai_agents_session.errors.{name}"
        assert heading_id in errors_page.headings, name
        assert errors_page.headings[heading_id].split()[0] == name
        doc = inspect.getdoc(getattr(errors, name)) or ""
        summary = " ".join(doc.replace("`", "").split("\n\n")[0].split())
        assert summary in errors_page.section(heading_id), name


def test_errors_page_describes_the_new_errors(errors_page: Page) -> None:
    closed = errors_page.section("openai_agents_session.errors.SessionClosedError")
    assert "close()" in closed and "DynamoDBError" not in closed
    unknown = errors_page.section("openai_agents_session.errors.WriteOutcomeUnknownError")
    assert "DynamoDBUnavailableError" in unknown  # its base is shown
    assert "outcome_unknown" in unknown


def test_errors_page_toc_lists_exactly_the_errors(errors_page: Page) -> None:
    assert sorted(errors_page.toc) == ERRORS, errors_page.toc


def test_errors_page_tree_names_every_error(errors_page: Page) -> None:
    tree = "".join(errors_page.preformatted)
    missing = [name for name in ERRORS if not re.search(rf"\b{name}\b", tree)]
    assert not missing, missing


def test_api_page_renders_the_inherited_methods(api_page: Page) -> None:
    assert f"{SESSION}" in api_page.headings
    for method in METHODS:
        heading_id = f"{SESSION}.{method}"
        assert heading_id in api_page.headings, method
        assert api_page.headings[heading_id].split()[0] == method
    # __init__ is SessionStore's, with every option documented.
    init = api_page.section(f"{SESSION}.__init__")
    for option in inspect.signature(SessionStore.__init__).parameters:
        if option != "self":
            assert option in init, option


def test_api_page_defines_create_table_once(api_page: Page) -> None:
    defined = [
        heading_id
        for heading_id, text in api_page.headings.items()
        if "create_table_if_not_exists" in heading_id or "create_table_if_not_exists" in text
    ]
    assert defined == ["openai_agents_session.dynamodb.create_table_if_not_exists"], defined
    assert api_page.toc.count("create_table_if_not_exists") == 1, api_page.toc


@pytest.mark.parametrize("method", ["pop_item", "clear_session", "add_items", "get_items"])
def test_api_page_lists_documented_exceptions(api_page: Page, method: str) -> None:
    expected = documented_raises(getattr(SessionStore, method))
    assert expected
    rendered = raises_rendered(api_page, f"{SESSION}.{method}")
    missing = [name for name in expected if not re.search(rf"\b{name}\b", rendered)]
    assert not missing, (missing, rendered)


def test_pop_item_and_clear_session_exceptions(api_page: Page) -> None:
    # The specific promises of the issue, independent of the docstring parsing above.
    pop = raises_rendered(api_page, f"{SESSION}.pop_item")
    for name in ("CorruptSessionError", "ConcurrentModificationError", "WriteOutcomeUnknownError"):
        assert name in pop, name
    clear = raises_rendered(api_page, f"{SESSION}.clear_session")
    for name in ("ConcurrentModificationError", "DynamoDBError"):
        assert name in clear, name
