"""``{% url %}`` with the route reversed once per shape (kapstone.core.reversing).

Installed as a template builtin (settings.TEMPLATES), so it replaces Django's tag in every
template; it reads and behaves like Django's, and hands anything it cannot speed up to it.
"""

from django import template
from django.template import defaulttags
from django.utils.html import conditional_escape

from kapstone.core import reversing

register = template.Library()

_PLACE = object()


class CachedURLNode(defaulttags.URLNode):
    def __init__(self, view_name, args, kwargs, asvar):
        super().__init__(view_name, args, kwargs, asvar)
        # A quoted route name (nearly every link) needs no resolving on each render.
        literal = view_name.var if not view_name.filters else None
        self._literal = literal if isinstance(literal, str) else None

    def render(self, context):
        if self.kwargs or self.asvar:
            return super().render(context)
        view_name = self._literal or self.view_name.resolve(context)
        args = [arg.resolve(context) for arg in self.args]
        # Read once per template rendered: the URL configuration cannot change mid-render.
        place = context.render_context.get(_PLACE)
        if place is None:
            place = context.render_context[_PLACE] = reversing.where()
        if not context.autoescape:
            return reversing.url(view_name, *args, place=place)
        # The route's text escaped once when it is first reversed; numbers need no escaping.
        return reversing.url(view_name, *args, escape=conditional_escape, place=place)


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    return CachedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
