"""Skills and their framework alignments: shown to trainees, edited by staff."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape
from wagtail.models import Locale

from courses.models import Skill, SkillAlignment
from tests.factories import UserFactory

TARIFFS = "http://data.europa.eu/esco/skill/21a3967a-dca2-4efa-9e5f-943f15527a47"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_programme_page_lists_each_skills_esco_concepts(
    client, programme, language
):
    """Each skill is an anchor (credentials link to #skill-<key>) and names its ESCO
    concepts with links, in either language."""
    page = programme
    if language != "en":
        page = programme.get_translation(Locale.objects.get(language_code=language))

    html = client.get(page.url).content.decode()

    skills = list(Skill.objects.filter(locale=page.locale, key__in=_keys(programme)))
    assert skills
    for skill in skills:
        assert f'id="skill-{skill.key}"' in html
        alignments = list(skill.alignments.all())
        assert alignments, skill.key
        for alignment in alignments:
            link = f'<a href="{alignment.uri}" rel="noopener" lang="en">'
            assert link + escape(alignment.name) + "</a>" in html


def _keys(programme) -> list[str]:
    return [skill.key for skill in programme.skills.all()]


def test_the_programme_page_reads_alignments_in_one_query(
    client, trainee, programme, django_assert_max_num_queries
):
    """The alignments are prefetched, not read skill by skill (signed in, so the
    page is rendered, not served from the anonymous cache)."""
    client.force_login(trainee)
    client.get(programme.url)  # warm the site and locale caches
    with django_assert_max_num_queries(40) as queries:
        html = client.get(programme.url).text
    reads = [q["sql"] for q in queries.captured_queries if "skillalignment" in q["sql"]]
    assert "Also aligned to" in html
    assert 1 <= len(reads) <= 2, reads


def test_an_alignment_is_checked_like_a_skills_own_reference(programme):
    skill = programme.skills.first()
    bad = SkillAlignment(skill=skill, framework="esco", name="x", uri="https://e.x/1")
    empty = SkillAlignment(skill=skill, framework="esco", name="x")
    code = SkillAlignment(skill=skill, framework="cn-occupation", name="x", code="4-1")

    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert "uri" in error.value.message_dict
    with pytest.raises(ValidationError, match="framework code or URI"):
        empty.full_clean()
    with pytest.raises(ValidationError) as error:
        code.full_clean()
    assert "code" in error.value.message_dict


def _form(skill: Skill, alignments: list[dict]) -> dict:
    """The snippet edit form's fields for ``skill``, its alignments replaced."""
    existing = list(skill.alignments.all())
    data = {
        "key": skill.key,
        "name": skill.name,
        "description": skill.description,
        "framework": skill.framework,
        "code": skill.code,
        "uri": skill.uri,
        "alignments-TOTAL_FORMS": str(len(existing) + len(alignments)),
        "alignments-INITIAL_FORMS": str(len(existing)),
        "alignments-MIN_NUM_FORMS": "0",
        "alignments-MAX_NUM_FORMS": "1000",
    }
    for index, alignment in enumerate(existing):
        prefix = f"alignments-{index}-"
        data |= {
            prefix + "id": str(alignment.pk),
            prefix + "framework": alignment.framework,
            prefix + "name": alignment.name,
            prefix + "uri": alignment.uri,
            prefix + "code": alignment.code,
            prefix + "ORDER": str(index + 1),
        }
    for index, alignment in enumerate(alignments, start=len(existing)):
        prefix = f"alignments-{index}-"
        data |= {prefix + "id": "", prefix + "ORDER": str(index + 1)}
        data |= {prefix + name: value for name, value in alignment.items()}
    return data


def test_staff_edit_a_skills_alignments_in_the_admin(client, programme):
    """The skill's edit form shows its alignments; a malformed one is refused with
    the reason and nothing saved; a well-formed one is added."""
    skill = Skill.objects.get(key="hs-classification", locale=Locale.get_default())
    before = [(a.name, a.uri) for a in skill.alignments.all()]
    assert before
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    url = reverse("wagtailsnippets_courses_skill:edit", args=[skill.pk])

    shown = client.get(url)
    assert shown.status_code == 200
    assert "Other framework alignments" in shown.text
    assert escape(before[0][0]) in shown.text

    bad = {"framework": "esco", "name": "tariffs", "uri": "https://esco.example/1"}
    refused = client.post(url, _form(skill, [bad]))
    assert refused.status_code == 200
    assert "An ESCO skill URI looks like" in refused.text
    assert [(a.name, a.uri) for a in skill.alignments.all()] == before

    good = {"framework": "esco", "name": "tariffs", "uri": TARIFFS}
    saved = client.post(url, _form(skill, [good]))
    assert saved.status_code == 302
    after = [(a.name, a.uri) for a in skill.alignments.order_by("sort_order")]
    assert after == [*before, ("tariffs", TARIFFS)]
