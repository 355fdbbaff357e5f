"""courses.teaching: who teaches which programme, its labs and cohorts; the
assignment edited on the programme page (Wagtail admin) and shown in Django's
admin; the cohort pages filtered by it."""

import pytest
from django.urls import reverse
from wagtail.models import Locale

from courses import teaching
from courses.models import ProgrammePage
from labs.models import Lab
from tests.courses.helpers import lab_opened_by, teacher_of
from tests.factories import UserFactory


@pytest.fixture
def other_programme(programme):
    return (
        ProgrammePage.objects.filter(locale=Locale.get_default())
        .exclude(pk=programme.pk)
        .order_by("path")
        .first()
    )


def _lab(slug: str) -> Lab:
    return Lab.objects.create(slug=slug, title=slug, notebook="x.ipynb", points=5)


def test_an_instructor_without_assignment_teaches_nothing(db, programme):
    """A new instructor teaches no programme and no lab: their pages are empty."""
    lab = _lab("solo-lab")
    lab_opened_by(programme=programme, slug=lab.slug)
    user = UserFactory(role="instructor")

    assert list(teaching.programmes_taught(user=user)) == []
    assert teaching.teaches_nothing(user)
    assert not teaching.programme_taught(user=user, programme=programme)
    assert not teaching.lab_taught(user=user, lab=lab)
    assert list(teaching.labs_taught(user=user)) == []


def test_an_assigned_instructor_teaches_the_programme_and_its_labs(
    db, programme, other_programme
):
    """The programme's instructor teaches it and the labs its lessons open, not
    another programme nor a lab no lesson of theirs opens."""
    mine, elsewhere, loose = _lab("mine"), _lab("elsewhere"), _lab("loose")
    lab_opened_by(programme=programme, slug=mine.slug)
    lab_opened_by(programme=other_programme, slug=elsewhere.slug)
    user = teacher_of(programme)

    assert list(teaching.programmes_taught(user=user)) == [programme]
    assert not teaching.teaches_nothing(user)
    assert teaching.programme_taught(user=user, programme=programme)
    assert not teaching.programme_taught(user=user, programme=other_programme)
    assert teaching.lab_taught(user=user, lab=mine)
    assert not teaching.lab_taught(user=user, lab=elsewhere)
    assert not teaching.lab_taught(user=user, lab=loose)
    assert mine in teaching.labs_taught(user=user)
    assert elsewhere not in teaching.labs_taught(user=user)


def test_a_lab_of_two_programmes_is_taught_by_the_instructors_of_each(
    db, programme, other_programme
):
    """A lab opened by lessons of two programmes: either programme's instructor
    teaches it."""
    shared = _lab("shared")
    lab_opened_by(programme=programme, slug=shared.slug)
    lab_opened_by(programme=other_programme, slug=shared.slug)

    assert teaching.lab_taught(user=teacher_of(programme), lab=shared)
    assert teaching.lab_taught(user=teacher_of(other_programme), lab=shared)


def test_an_assignment_on_a_translation_counts_for_the_programme(
    db, programme, zh_locale
):
    """Listed on the Chinese edition of the programme, an instructor teaches the
    programme (its default-locale page, where cohorts are recorded) and its labs."""
    chinese = ProgrammePage.objects.get(
        translation_key=programme.translation_key, locale=zh_locale
    )
    lab = _lab("translated")
    lab_opened_by(programme=programme, slug=lab.slug)

    user = teacher_of(chinese)

    assert list(teaching.programmes_taught(user=user)) == [programme]
    assert teaching.programme_taught(user=user, programme=programme)
    assert teaching.lab_taught(user=user, lab=lab)


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "trainee", "is_superuser": True, "is_staff": True},
        {"role": "instructor", "is_staff": True},
    ],
)
def test_staff_and_superusers_see_everything_unassigned(db, programme, fields):
    """Staff and superusers need no assignment: every programme and lab is theirs."""
    user = UserFactory(**fields)
    lab = _lab("any")

    assert set(teaching.programmes_taught(user=user)) >= {programme}
    assert teaching.programme_taught(user=user, programme=programme)
    assert teaching.lab_taught(user=user, lab=lab)
    assert lab in teaching.labs_taught(user=user)


@pytest.mark.parametrize("role", ["trainee", "employer"])
def test_other_roles_teach_nothing_even_when_listed(db, programme, role):
    """Only the instructor role teaches: a trainee or employer listed on a page
    (the editor's choices exclude them) is given nothing."""
    user = UserFactory(role=role)
    ProgrammePage.instructors.through.objects.create(programmepage=programme, user=user)

    assert not teaching.programme_taught(user=user, programme=programme)


def test_the_labs_of_programmes_follow_edits_of_the_lessons(db, programme):
    """The lab list is cached per content generation: a lesson opening a new lab
    makes it taught at once."""
    user = teacher_of(programme)
    lab = _lab("later")
    assert not teaching.lab_taught(user=user, lab=lab)

    lab_opened_by(programme=programme, slug=lab.slug)

    assert teaching.lab_taught(user=user, lab=lab)


# --- Editing the assignment -------------------------------------------------------


def _edit_url(page) -> str:
    return reverse("wagtailadmin_pages:edit", args=[page.pk])


def test_administrators_assign_instructors_on_the_programme_page(client, programme):
    """A superuser's programme editor lists instructors (and only them) as
    checkboxes; publishing with one ticked makes them teach the programme."""
    admin = UserFactory(role="trainee", is_superuser=True, is_staff=True)
    chosen = UserFactory(role="instructor", username="chosen-instructor")
    trainee = UserFactory(role="trainee", username="not-an-instructor")
    client.force_login(admin)

    form = client.get(_edit_url(programme)).context["form"]
    choices = {user.pk for user in form.fields["instructors"].queryset}
    assert chosen.pk in choices
    assert trainee.pk not in choices

    data = _form_data(form)
    data["instructors"] = [str(chosen.pk)]
    data["action-publish"] = "action-publish"
    response = client.post(_edit_url(programme), data)

    assert response.status_code == 302, response.context["form"].errors
    assert teaching.programme_taught(user=chosen, programme=programme)
    assert list(teaching.programmes_taught(user=chosen)) == [programme]


def test_an_editor_cannot_assign_instructors(client, programme):
    """An instructor who edits pages (the demo's Editors group) does not get the
    field: posting it anyway assigns no one, themselves included."""
    from tests.security.helpers import _editors_group

    editor = UserFactory(role="instructor")
    editor.groups.add(*_editors_group())
    client.force_login(editor)

    form = client.get(_edit_url(programme)).context["form"]
    assert "instructors" not in form.fields

    data = _form_data(form)
    data["instructors"] = [str(editor.pk)]
    data["action-publish"] = "action-publish"
    response = client.post(_edit_url(programme), data)

    assert response.status_code == 302  # published, the rest of the form valid
    assert not teaching.programme_taught(user=editor, programme=programme)
    assert programme.instructors.count() == 0


def _form_data(form) -> dict:
    """The edit form's current values as a browser would post them."""
    from wagtail.test.utils.form_data import rich_text

    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            continue
        if name == "body":
            data[name] = rich_text(value or "<p></p>")
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = value
    for prefix, formset in form.formsets.items():
        management = formset.management_form
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{prefix}-{key}"] = management[key].value()
    return data


def test_django_admin_shows_the_programmes_a_user_teaches(client, programme):
    """The user's page in Django's admin lists the programmes they teach (read
    only: they are assigned on the programme page)."""
    admin = UserFactory(role="trainee", is_superuser=True, is_staff=True)
    user = teacher_of(programme)
    client.force_login(admin)

    response = client.get(reverse("admin:accounts_user_change", args=[user.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Programmes taught" in html
    assert programme.title in html


# --- Cohort pages -----------------------------------------------------------------


def test_the_cohort_index_lists_only_the_programmes_taught(
    client, programme, other_programme
):
    """An instructor's cohort index lists their programme, not the others."""
    client.force_login(teacher_of(programme))

    response = client.get(reverse("courses:cohort_index"))

    listed = [item["id"] for item in response.context["programmes"]]
    assert listed == [programme.pk]
    assert other_programme.title not in response.content.decode()


def test_an_unassigned_instructor_is_told_whom_to_ask(client, programme):
    """No assignment: the cohort index is an empty state that says an
    administrator must assign programmes; a programme's cohort is a 404."""
    client.force_login(UserFactory(role="instructor"))

    index = client.get(reverse("courses:cohort_index"))
    cohort = client.get(reverse("courses:cohort_programme", args=[programme.pk]))

    assert index.context["programmes"] == []
    assert "An administrator must assign you" in index.content.decode()
    assert cohort.status_code == 404


@pytest.mark.parametrize("name", ["cohort_programme", "cohort_csv", "cohort_course"])
def test_another_programmes_cohort_is_not_found(
    client, programme, other_programme, enrolled, name
):
    """The cohort pages and CSV of a programme the instructor does not teach are
    404, in any language's edition; its trainees are not shown."""
    from courses.models import CoursePage

    client.force_login(teacher_of(other_programme))
    target = programme
    if name == "cohort_course":
        target = CoursePage.objects.child_of(programme).first()

    response = client.get(reverse(f"courses:{name}", args=[target.pk]))

    assert response.status_code == 404
