"""Template tags that let lower layers' templates show grading (the lab block).

``courses`` must not import ``grading`` in Python; its lab block template loads
these tags instead, so the dependency stays a template-level one.
"""

from django import template

from grading import selectors
from grading.selectors import LabSubmissionsSummary
from labs.models import Lab
from lms.accounts.models import User
from lms.accounts.readerstate import page_valid_until

register = template.Library()


@register.simple_tag(takes_context=True)
def lab_submissions_summary(context, lab: Lab, user: User) -> LabSubmissionsSummary:
    """``{% lab_submissions_summary lab request.user as summary %}``: the trainee's
    attempts used and left, the deadline and the last submission of ``lab``. The
    page shows "closed" once the deadline passes: a stored copy ends there."""
    summary = selectors.lab_submissions_summary(user=user, lab=lab)
    page_valid_until(context.get("request"), summary.closes_at)
    return summary
