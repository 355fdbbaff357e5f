from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def feedback_for(feedback, question_id):
    """The stored feedback entry of one question in a quiz attempt."""
    for item in feedback or []:
        if item.get("question") == question_id:
            return item
    return None
