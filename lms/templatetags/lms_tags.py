"""Tags of the site-wide layout (lms/templates/base.html)."""

from django import template
from django.urls import translate_url
from django.utils.translation import get_language_from_path

register = template.Library()


@register.simple_tag(takes_context=True)
def language_url(context, language: str) -> str:
    """The current page in ``language``: the same path and query under the other
    language prefix, as the set_language view redirects to, but as a plain link, so
    that pages for anonymous visitors carry no CSRF token and can be cached."""
    return translate_url(context["request"].get_full_path(), language)


@register.simple_tag(takes_context=True)
def language_in_path(context) -> bool:
    """Whether the URL names the language (``/en/…``): then links can switch it.
    Elsewhere (``/verify/…``) only the language cookie can, which set_language sets
    from a POST."""
    return get_language_from_path(context["request"].path_info) is not None
