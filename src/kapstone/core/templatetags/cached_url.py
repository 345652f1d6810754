"""``{% url %}`` with the route reversed once per shape (kapstone.core.reversing).

Installed as a template builtin (settings.TEMPLATES), so it replaces Django's tag in every
template; it reads and behaves like Django's, and hands anything it cannot speed up to it.
"""

from django import template
from django.template import defaulttags
from django.utils.html import conditional_escape

from kapstone.core import reversing

register = template.Library()


class CachedURLNode(defaulttags.URLNode):
    def render(self, context):
        if self.kwargs or self.asvar:
            return super().render(context)
        view_name = self.view_name.resolve(context)
        args = [arg.resolve(context) for arg in self.args]
        url = reversing.url(view_name, *args)
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    return CachedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
