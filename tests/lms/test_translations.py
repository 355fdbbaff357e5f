"""The Simplified Chinese interface catalogue: complete, well-formed, compiled, used.

The .mo is committed so that running the platform needs no GNU gettext; these tests
make sure it matches the .po, that the .po covers every interface string in the
code, and that pages in zh-hans actually show the translations.
"""

import ast
import re
from pathlib import Path

import polib
import pytest
from django.utils import translation
from django.utils.translation.template import templatize

pytestmark = pytest.mark.engine_free

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_DIR = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = CATALOGUE_DIR / "django.po"
MO_PATH = CATALOGUE_DIR / "django.mo"
SOURCE_DIRS = ("lms", "courses", "labs", "grading")
TEMPLATE_SUFFIXES = (".html", ".txt")  # what makemessages reads besides .py

# Python %-format conversions, named or not ("%%" is an escaped percent sign).
PYTHON_FORMAT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.\d+)?[a-zA-Z%]")
TEMPLATE_VARIABLE = re.compile(r"{{\s*[^}]*?\s*}}")
MARKUP = re.compile(r"</?[A-Za-z][^<>]*>|&#?\w+;")

# gettext functions by name, with the positions of (context, singular, plural).
GETTEXT_ARGUMENTS = {
    "_": (None, 0, None),
    "gettext": (None, 0, None),
    "gettext_lazy": (None, 0, None),
    "gettext_noop": (None, 0, None),
    "ngettext": (None, 0, 1),
    "ngettext_lazy": (None, 0, 1),
    "pgettext": (0, 1, None),
    "pgettext_lazy": (0, 1, None),
    "npgettext": (0, 1, 2),
    "npgettext_lazy": (0, 1, 2),
}
# templatize() turns every translate/blocktranslate tag into one of these calls,
# with each argument written as repr() of a str.
TEMPLATIZED_CALL = re.compile(
    r"\b(n?p?gettext)\(((?:u(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"),\s*)*"
    r"u(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"))(?:,\s*count)?\)"
)
REPR_STRING = re.compile(r"u('(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")")

MessageKey = tuple[str | None, str, str | None]  # (msgctxt, msgid, msgid_plural)


@pytest.fixture(autouse=True)
def _keep_active_language():
    """A zh-hans request leaves zh-hans active in this thread (LocaleMiddleware does
    not reset it); put back the previous language so later tests are unaffected."""
    language = translation.get_language()
    yield
    translation.activate(language)


def _po() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def _live_entries(catalogue: polib.POFile | polib.MOFile) -> list:
    return [entry for entry in catalogue if entry.msgid and not entry.obsolete]


def _key(entry) -> MessageKey:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural or None)


def _translations(entry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def _placeholder_problems(entry) -> list[str]:
    """What a translation lost or added: %-placeholders, {{ variables }}, markup."""
    patterns = [TEMPLATE_VARIABLE, MARKUP]
    if "python-format" in entry.flags:
        patterns.append(PYTHON_FORMAT)
    sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural else [])
    pairs = [(s, t) for s in sources for t in _translations(entry)]
    problems = []
    for pattern in patterns:
        for source, translated in pairs:
            wanted = sorted(pattern.findall(source))
            found = sorted(pattern.findall(translated))
            if found != wanted:
                problems.append(f"{translated!r}: expected {wanted}, found {found}")
    return problems


def _python_messages(path: Path) -> set[MessageKey]:
    """gettext calls with literal arguments in a module, as makemessages finds them."""
    messages = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GETTEXT_ARGUMENTS:
            continue
        positions = GETTEXT_ARGUMENTS[name]
        values = []
        for position in positions:
            if position is None:
                values.append(None)
                continue
            argument = node.args[position] if len(node.args) > position else None
            if not (
                isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            ):
                break
            values.append(argument.value)
        else:
            messages.add(tuple(values))
    return messages


def _template_messages(path: Path) -> set[MessageKey]:
    """translate/blocktranslate strings in a template, through Django's templatize."""
    messages = set()
    source = templatize(path.read_text(encoding="utf-8"), origin=str(path))
    for call in TEMPLATIZED_CALL.finditer(source):
        function, arguments = call.groups()
        values = [ast.literal_eval(text) for text in REPR_STRING.findall(arguments)]
        context = (
            values.pop(0) if function.startswith(("pgettext", "npgettext")) else None
        )
        plural = values[1] if function.startswith(("ngettext", "npgettext")) else None
        messages.add((context, values[0], plural))
    return messages


def _source_messages() -> dict[MessageKey, Path]:
    found = {}
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.suffix == ".py":
                keys = _python_messages(path)
            elif path.suffix in TEMPLATE_SUFFIXES:
                keys = _template_messages(path)
            else:
                continue
            for key in keys:
                found.setdefault(key, path.relative_to(ROOT))
    return found


def test_header_declares_simplified_chinese_with_one_plural_form():
    """The header is not fuzzy and names zh_Hans, UTF-8 and Chinese's one plural
    form."""
    po = _po()
    assert not po.metadata_is_fuzzy
    assert po.metadata["Language"] == "zh_Hans"
    assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8"
    assert po.metadata["Plural-Forms"] == "nplurals=1; plural=0;"


def test_every_entry_is_translated_and_none_is_fuzzy_or_obsolete():
    """Each message has a non-empty translation (one form for plurals), no fuzzy flag
    and no obsolete leftovers."""
    po = _po()
    entries = _live_entries(po)
    assert len(entries) > 100, "the catalogue lost most of its messages"
    untranslated = [e.msgid for e in entries if not all(_translations(e))]
    fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]
    obsolete = [e.msgid for e in po if e.obsolete]
    wrong_plural_forms = [
        e.msgid for e in entries if e.msgid_plural and set(e.msgstr_plural) != {0}
    ]
    assert untranslated == []
    assert fuzzy == []
    assert obsolete == []
    assert wrong_plural_forms == []


def test_translations_keep_placeholders_and_markup():
    """Every %(name)s / %s / %d, {{ variable }}, HTML tag and entity of the English
    text appears in the translation as often as in the source, and nothing extra."""
    problems = [
        p for entry in _live_entries(_po()) for p in _placeholder_problems(entry)
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("msgid", "msgstr", "flags"),
    [
        (
            "You scored %(score)s of %(max)s.",
            "您的得分：%(score)s。",
            ["python-format"],
        ),
        ("Pass mark: %(mark)s%%", "及格线：%(mark)s%", ["python-format"]),
        ("Hello {{ name }}", "你好", []),
        ("Read <em>this</em>", "请阅读此内容", []),
    ],
)
def test_placeholder_check_spots_a_damaged_translation(msgid, msgstr, flags):
    """The placeholder check reports a dropped placeholder, escape or tag, so the
    test above cannot pass vacuously."""
    entry = polib.POEntry(msgid=msgid, msgstr=msgstr, flags=flags)
    assert _placeholder_problems(entry) != []


def test_committed_mo_matches_the_po():
    """django.mo holds exactly the .po's translations and plural rule: it was
    compiled after the last edit (run `make messages` when this fails)."""
    po = _po()
    mo = polib.mofile(str(MO_PATH))
    po_map = {_key(e): _translations(e) for e in _live_entries(po)}
    mo_map = {_key(e): _translations(e) for e in _live_entries(mo)}
    assert mo.metadata.get("Plural-Forms") == po.metadata["Plural-Forms"]
    assert sorted(set(po_map) - set(mo_map)) == []
    assert sorted(set(mo_map) - set(po_map)) == []
    assert {k: v for k, v in mo_map.items() if po_map[k] != v} == {}


def test_source_scan_finds_python_and_template_strings():
    """The scanner below sees gettext calls, translate tags and plural blocktranslate
    tags, so an empty scan cannot make the completeness check pass."""
    messages = _source_messages()
    assert (None, "Catalogue", None) in messages  # {% translate %} in base.html
    assert (None, "Lesson marked complete.", None) in messages  # gettext in views
    assert (None, "%(n)s lesson", "%(n)s lessons") in messages  # blocktranslate count
    assert (  # implicitly concatenated literal in a gettext_lazy call
        None,
        "An ESCO skill URI looks like http://data.europa.eu/esco/skill/<uuid>.",
        None,
    ) in messages


def test_every_interface_string_in_the_code_is_in_the_catalogue():
    """Each literal passed to gettext/gettext_lazy/_ in lms/, courses/, labs/ and
    grading/ and each translate/blocktranslate string in their templates is a msgid
    of the .po (add new strings with `make messages` and translate them)."""
    catalogue = {_key(e) for e in _live_entries(_po())}
    missing = {
        key: str(path)
        for key, path in _source_messages().items()
        if key not in catalogue
    }
    assert missing == {}


def _translation_of(msgid: str) -> str:
    return _po().find(msgid).msgstr


def test_chinese_pages_show_the_translated_navigation(db, client):
    """/zh-hans/ shows the navigation in Chinese and /en/ shows it in English."""
    catalogue_zh = _translation_of("Catalogue")
    sign_in_zh = _translation_of("Sign in")

    chinese = client.get("/zh-hans/").content.decode()
    english = client.get("/en/").content.decode()

    assert f">{catalogue_zh}</a>" in chinese
    assert f">{sign_in_zh}</a>" in chinese
    assert ">Catalogue</a>" not in chinese
    assert ">Catalogue</a>" in english
    assert ">Sign in</a>" in english
    assert catalogue_zh not in english


def test_chinese_plurals_use_the_single_form(db, client):
    """Counted strings on the zh-hans programme page come from msgstr[0]."""
    entry = _po().find("%(n)s course")
    expected = entry.msgstr_plural[0] % {"n": 3}

    response = client.get("/zh-hans/cross-border-ecommerce/")

    assert response.status_code == 200
    assert expected in response.content.decode()


def test_signed_in_pages_are_translated(client, trainee):
    """A trainee's dashboard in zh-hans uses the catalogue for its heading and nav."""
    client.force_login(trainee)

    html = client.get("/zh-hans/dashboard/").content.decode()

    assert f"<h1>{_translation_of('Your learning')}</h1>" in html
    assert f">{_translation_of('Sign out')}</button>" in html
    assert "Your learning" not in html
