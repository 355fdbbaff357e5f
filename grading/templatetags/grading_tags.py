"""Template tags that let lower layers' templates show grading (the lab block).

``courses`` must not import ``grading`` in Python; its lab block template loads
these tags instead, so the dependency stays a template-level one.
"""

from django import template

from grading import selectors
from grading.selectors import LabSubmissionsSummary
from labs.models import Lab
from lms.accounts.models import User

register = template.Library()


@register.simple_tag
def lab_submissions_summary(lab: Lab, user: User) -> LabSubmissionsSummary:
    """``{% lab_submissions_summary lab request.user as summary %}``: the trainee's
    attempts used and left, the deadline and the last submission of ``lab``."""
    return selectors.lab_submissions_summary(user=user, lab=lab)
