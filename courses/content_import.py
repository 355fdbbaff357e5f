"""Import curricula from ``courses/content/`` (format: courses/content/README.md).

Idempotent: pages are matched by slug under their parent (and translations by
``translation_key``), then updated and republished in place. Block ids are derived
from the lesson slug and the block's position, so quiz attempts stay attached to
their quiz across imports and across languages.
"""

import logging
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from markdown_it import MarkdownIt
from wagtail.models import Locale, Page, Site

from courses.models import (
    CataloguePage,
    CoursePage,
    LessonPage,
    ProgrammePage,
    Skill,
    SkillAlignment,
)
from courses.models.skills import SkillFramework, reference_errors

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"
BLOCK_NAMESPACE = uuid.UUID("6f0c3d0e-6a4b-4d55-9a57-6c1f3e2d9b10")
CATALOGUE_TITLE = {"en": "Silkroute Academy", "zh-hans": "丝路学院"}
CATALOGUE_INTRO = {
    "en": "Bilingual programmes for the people who run online stores, bring rural "
    "producers online, steer supply chains with data and trade across borders.",
    "zh-hans": "面向网店运营、农产品上行、数据驱动供应链和跨境贸易从业者的"
    "双语培训与认证项目。",
}


class ContentError(ValueError):
    """The content files are malformed; the message names the file and the field."""


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def _text(value: Any, language: str, *, where: str) -> str:
    """Pick ``language`` from a localised value, falling back to English."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if DEFAULT_LANGUAGE not in value and language not in value:
            raise ContentError(f"{where}: needs an '{DEFAULT_LANGUAGE}' text")
        return str(value.get(language) or value.get(DEFAULT_LANGUAGE) or "")
    return str(value)


def _has_language(value: Any, language: str) -> bool:
    if value is None or isinstance(value, str | int | float):
        return True
    return isinstance(value, dict) and bool(value.get(language))


# Raw HTML off: the result is stored as Wagtail rich text, which is rendered as it
# is, so a curriculum file's <script> or onerror= would run on the site. With it off,
# markdown-it escapes such markup into text (and refuses javascript: links).
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def _md(text: str) -> str:
    """CommonMark (nested lists indented to the item's text, as authors write them),
    without raw HTML."""
    return _MARKDOWN.render(text)


def _block_id(*parts: object) -> str:
    return str(uuid.uuid5(BLOCK_NAMESPACE, ":".join(str(p) for p in parts)))


def _require(data: dict, key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise ContentError(f"{where}: missing '{key}'")
    return data[key]


def _question(q: dict, language: str, where: str, question_id: str) -> tuple[str, dict]:
    kind = _require(q, "kind", where)
    prompt = _text(_require(q, "prompt", where), language, where=where)
    explanation = _text(q.get("explanation"), language, where=where)
    if kind in ("single", "multiple"):
        choices = _require(q, "choices", where)
        correct = sum(1 for c in choices if c.get("correct"))
        if kind == "single" and correct != 1:
            raise ContentError(f"{where}: a single-choice question needs one answer")
        if kind == "multiple" and correct < 1:
            raise ContentError(f"{where}: mark at least one correct choice")
        options = [
            {
                "text": _text(c["text"], language, where=where),
                "correct": bool(c.get("correct")),
            }
            for c in choices
        ]
        if q.get("shuffle", True):
            # Authors tend to write the right answer first. Shuffle with the question's
            # id as the seed: the same order in every language and on every import.
            random.Random(question_id).shuffle(options)  # noqa: S311 - not security
        return kind, {"prompt": prompt, "choices": options, "explanation": explanation}
    if kind == "numeric":
        return kind, {
            "prompt": prompt,
            "answer": str(_require(q, "answer", where)),
            "tolerance": str(q.get("tolerance", 0)),
            "unit": q.get("unit", ""),
            "explanation": explanation,
        }
    raise ContentError(f"{where}: unknown question kind {kind!r}")


def _body(lesson: dict, language: str, where: str) -> tuple[list[dict], bool]:
    """Stream data for one language, and whether every text was in that language."""
    stream, translated = [], True
    for index, block in enumerate(lesson.get("body") or []):
        kind = block.get("type")
        at = f"{where} body[{index}]"
        block_id = _block_id(lesson["slug"], index)
        if kind == "heading":
            value: Any = _text(block.get("text"), language, where=at)
            translated &= _has_language(block.get("text"), language)
        elif kind == "text":
            value = _md(_text(block.get("text"), language, where=at))
            translated &= _has_language(block.get("text"), language)
        elif kind == "callout":
            value = {
                "style": block.get("style", "note"),
                "title": _text(block.get("title"), language, where=at),
                "text": _md(_text(block.get("text"), language, where=at)),
            }
            translated &= _has_language(block.get("text"), language)
        elif kind == "code":
            value = {"language": block.get("language", "python"), "code": block["code"]}
        elif kind == "embed":
            value = _require(block, "url", at)
        elif kind == "lab":
            value = {
                "lab": _require(block, "lab", at),
                "title": _text(block.get("title"), language, where=at),
            }
        elif kind == "quiz":
            questions = []
            for qi, q in enumerate(_require(block, "questions", at)):
                question_id = _block_id(lesson["slug"], index, qi)
                q_kind, q_value = _question(
                    q, language, f"{at} question {qi + 1}", question_id
                )
                questions.append({"type": q_kind, "value": q_value, "id": question_id})
            value = {
                "title": _text(_require(block, "title", at), language, where=at),
                "pass_mark": int(block.get("pass_mark", 75)),
                "questions": questions,
            }
        else:
            raise ContentError(f"{at}: unknown block type {kind!r}")
        stream.append({"type": kind, "value": value, "id": block_id})
    return stream, translated


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ContentError(f"{path}: not valid YAML: {error}") from error


def _publish(page: Page) -> None:
    page.save_revision().publish(log_action=False)


def _upsert_child(
    parent: Page, model: type[Page], slug: str, fields: dict, report: ImportReport
) -> Page:
    page = model.objects.child_of(parent).filter(slug=slug).first()
    if page is None:
        page = model(slug=slug, locale=parent.locale, **fields)
        parent.add_child(instance=page)
        report.created.append(page.url_path)
    else:
        for name, value in fields.items():
            setattr(page, name, value)
        report.updated.append(page.url_path)
    _publish(page)
    return page


def _upsert_translation(
    source: Page, locale: Locale, fields: dict, report: ImportReport
) -> Page:
    page = source.get_translation_or_none(locale)
    if page is None:
        page = source.copy_for_translation(locale)
        report.created.append(page.url_path)
    else:
        report.updated.append(page.url_path)
    page = page.specific
    for name, value in fields.items():
        setattr(page, name, value)
    _publish(page)
    return page


def locales_ensure() -> dict[str, Locale]:
    return {
        code: Locale.objects.get_or_create(language_code=code)[0]
        for code, _name in settings.LANGUAGES
    }


def catalogue_ensure(report: ImportReport) -> dict[str, CataloguePage]:
    """One catalogue home per locale; the default site's root is the English one."""
    locales = locales_ensure()
    root = Page.get_first_root_node()
    home = CataloguePage.objects.filter(locale=locales[DEFAULT_LANGUAGE]).first()
    if home is None:
        home = CataloguePage(
            title=CATALOGUE_TITLE["en"],
            slug="home",
            locale=locales[DEFAULT_LANGUAGE],
            intro=f"<p>{CATALOGUE_INTRO['en']}</p>",
        )
        # Wagtail's first migration leaves a placeholder home with the same slug.
        for stale in (
            Page.objects.child_of(root)
            .filter(slug="home")
            .exclude(content_type__model="cataloguepage")
        ):
            stale.slug = f"home-old-{stale.pk}"
            stale.save(update_fields=["slug"])
        root.add_child(instance=home)
        _publish(home)
        report.created.append("/")
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        Site.objects.create(
            hostname="localhost",
            port=80,
            root_page=home,
            is_default_site=True,
            site_name="Silkroute Academy",
        )
    elif site.root_page_id != home.pk:
        old = site.root_page
        site.root_page = home
        site.site_name = "Silkroute Academy"
        site.save()
        if old.depth == 2 and not isinstance(old.specific, CataloguePage):
            old.delete()
    homes = {DEFAULT_LANGUAGE: home}
    for code, locale in locales.items():
        if code != DEFAULT_LANGUAGE:
            homes[code] = _upsert_translation(
                home,
                locale,
                {
                    "title": CATALOGUE_TITLE[code],
                    "intro": f"<p>{CATALOGUE_INTRO[code]}</p>",
                },
                report,
            )
    return homes


def _alignments(item: dict, where: str) -> list[dict[str, str]]:
    """A skill's ``alignments`` list, checked: each names a known framework, the
    concept's label there and a well-formed URI or code."""
    found = item.get("alignments") or []
    if not isinstance(found, list):
        raise ContentError(f"{where}: 'alignments' must be a list")
    checked = []
    for position, entry in enumerate(found):
        at = f"{where}.alignments[{position}]"
        if not isinstance(entry, dict):
            raise ContentError(f"{at}: must be a mapping")
        framework = str(_require(entry, "framework", at))
        if framework not in SkillFramework.values:
            known = ", ".join(SkillFramework.values)
            raise ContentError(f"{at}: unknown framework {framework!r} ({known})")
        values = {
            "framework": framework,
            "name": str(_require(entry, "name", at)),
            "code": str(entry.get("code") or ""),
            "uri": str(entry.get("uri") or ""),
        }
        errors = reference_errors(framework, values["code"], values["uri"])
        if errors:
            raise ContentError(f"{at}: {' '.join(str(e) for e in errors.values())}")
        checked.append(values)
    return checked


def skills_import(path: Path) -> dict[str, dict[str, Skill]]:
    """Upsert skills by key in every locale; return them by key then language."""
    locales = locales_ensure()
    skills: dict[str, dict[str, Skill]] = {}
    for index, item in enumerate(_load(path) or []):
        where = f"{path.name}[{index}]"
        key = _require(item, "key", where)
        alignments = _alignments(item, where)
        source = None
        for code, locale in locales.items():
            values = {
                "name": _text(_require(item, "name", where), code, where=where),
                "description": _text(item.get("description"), code, where=where),
                "framework": _require(item, "framework", where),
                "code": str(item.get("code") or ""),
                "uri": item.get("uri") or "",
            }
            skill = Skill.objects.filter(key=key, locale=locale).first()
            if skill is None:
                skill = Skill(key=key, locale=locale, **values)
                if source is not None:
                    skill.translation_key = source.translation_key
            else:
                for name, value in values.items():
                    setattr(skill, name, value)
            skill.alignments = [
                SkillAlignment(sort_order=position, **entry)
                for position, entry in enumerate(alignments)
            ]
            skill.full_clean()
            skill.save()
            source = source or skill
            skills.setdefault(key, {})[code] = skill
    return skills


def _skill_list(keys: list[str], skills: dict, code: str, where: str) -> list[Skill]:
    missing = [key for key in keys if key not in skills]
    if missing:
        raise ContentError(f"{where}: unknown skills {', '.join(missing)}")
    return [skills[key][code] for key in keys]


def _localised_fields(
    data: dict, code: str, where: str, names: tuple[str, ...]
) -> dict[str, str]:
    return {name: _text(data.get(name), code, where=where) for name in names}


def programme_import(
    directory: Path,
    *,
    homes: dict[str, CataloguePage],
    skills: dict,
    report: ImportReport,
) -> ProgrammePage:
    data = _load(directory / "programme.yaml")
    where = f"{directory.name}/programme.yaml"
    slug = _require(data, "slug", where)
    _require(data, "title", where)
    programme_skills = data.get("skills") or []
    pages: dict[str, Page] = {}
    for code, home in homes.items():
        fields = {
            **_localised_fields(data, code, where, ("title", "summary")),
            "level": data.get("level", "beginner"),
            "hours": int(data.get("hours", 10)),
            "body": _md(_text(data.get("description"), code, where=where))
            if data.get("description")
            else "",
        }
        if code == DEFAULT_LANGUAGE:
            page = _upsert_child(home, ProgrammePage, slug, fields, report)
        else:
            page = _upsert_translation(
                pages[DEFAULT_LANGUAGE], home.locale, fields, report
            )
        page.skills.set(_skill_list(programme_skills, skills, code, where))
        _publish(page)
        pages[code] = page
    for course_name in _require(data, "courses", where):
        course_file = directory / f"{course_name}.yaml"
        if not course_file.exists():
            raise ContentError(f"{where}: course file {course_file.name} not found")
        _course_import(course_file, programmes=pages, skills=skills, report=report)
    return pages[DEFAULT_LANGUAGE]


def _course_import(
    path: Path, *, programmes: dict[str, Page], skills: dict, report: ImportReport
) -> None:
    data = _load(path)
    where = path.name
    slug = _require(data, "slug", where)
    courses: dict[str, Page] = {}
    for code, programme in programmes.items():
        fields = _localised_fields(data, code, where, ("title", "summary"))
        if code == DEFAULT_LANGUAGE:
            page = _upsert_child(programme, CoursePage, slug, fields, report)
        else:
            page = _upsert_translation(
                courses[DEFAULT_LANGUAGE], programme.locale, fields, report
            )
        page.skills.set(_skill_list(data.get("skills") or [], skills, code, where))
        _publish(page)
        courses[code] = page
    for index, lesson in enumerate(_require(data, "lessons", where)):
        at = f"{where} lesson {index + 1}"
        _require(lesson, "slug", at)
        _require(lesson, "title", at)
        source = None
        for code, course in courses.items():
            body, translated = _body(lesson, code, at)
            fields = {
                **_localised_fields(lesson, code, at, ("title", "summary")),
                "minutes": int(lesson.get("minutes", 20)),
                "body": body,
                "translated": translated,
                "key_terms": [
                    {
                        "type": "term",
                        "value": {
                            "term": _text(term.get("term"), code, where=at),
                            "definition": _text(term.get("definition"), code, where=at),
                        },
                        "id": _block_id(lesson["slug"], "term", ti),
                    }
                    for ti, term in enumerate(lesson.get("key_terms") or [])
                ],
            }
            if code == DEFAULT_LANGUAGE:
                source = _upsert_child(
                    course, LessonPage, lesson["slug"], fields, report
                )
            else:
                _upsert_translation(source, course.locale, fields, report)


@transaction.atomic
def curriculum_import(content_dir: Path | None = None) -> ImportReport:
    """Import the skills and every programme directory under ``content_dir``.

    ``content_dir`` defaults to ``settings.CURRICULUM_DIR`` (courses/content/).
    """
    content_dir = Path(content_dir or settings.CURRICULUM_DIR)
    report = ImportReport()
    homes = catalogue_ensure(report)
    skills_file = content_dir / "skills.yaml"
    skills = skills_import(skills_file) if skills_file.exists() else {}
    for directory in sorted(p for p in content_dir.iterdir() if p.is_dir()):
        if (directory / "programme.yaml").exists():
            local_skills = directory / "skills.yaml"
            if local_skills.exists():
                skills = {**skills, **skills_import(local_skills)}
            programme_import(directory, homes=homes, skills=skills, report=report)
    log.info(
        "Curriculum import: %d pages created, %d updated",
        len(report.created),
        len(report.updated),
    )
    return report
