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


# Blocks that show the reader's own state (attempts, forms, their lab): rendered
# for each request. Every other block reads the same for everyone.
PER_READER_BLOCKS = ("quiz", "lab")


@register.simple_tag(takes_context=True)
def lesson_body_parts(context) -> list[tuple[str | None, object | None]]:
    """The lesson's body as ``(html, None)`` for each run of blocks that read the
    same for everyone, rendered once per content generation (courses.cache), and
    ``(None, block)`` for each quiz or lab block, left to render per request."""
    from django.utils.safestring import SafeString
    from django.utils.translation import get_language
    from wagtail.templatetags.wagtailcore_tags import richtext

    from courses.cache import content_cached

    page = context["page"]
    body = page.body

    def render() -> list[tuple[str | None, int | None]]:
        parts: list[tuple[str | None, int | None]] = []
        run: list[str] = []
        flat = context.flatten()
        for index, block in enumerate(body):
            if block.block_type in PER_READER_BLOCKS:
                if run:
                    parts.append(("".join(run), None))
                    run = []
                parts.append((None, index))
            elif block.block_type == "text":
                run.append(str(richtext(block.value)))
            else:
                run.append(str(block.render_as_block(context=flat)))
        if run:
            parts.append(("".join(run), None))
        return parts

    parts = content_cached(f"lesson-body:{page.pk}:{get_language()}", render)
    return [
        (SafeString(html), None) if html is not None else (None, body[index])
        for html, index in parts
    ]
