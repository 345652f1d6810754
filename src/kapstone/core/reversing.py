"""URL reversal done once per route shape instead of once per link.

Django's ``reverse`` walks the URL resolver each time (about 50 µs for a route without
arguments, several times that with one): the chart's two dozen links and the navigation on
every page made it a noticeable share of a page's CPU. A route's URL with whole-number
arguments is the same text around the numbers, so it is reversed once with stand-in numbers
and later links are the text with the real numbers put in.

Only whole-number arguments (not negative) and un-namespaced routes take the short way; anything else (text
arguments, keyword arguments, namespaces) is reversed as usual. A route that refuses the stand-in
numbers (a pattern limiting the digits) is reversed as usual too, and remembered as such.
"""

from collections.abc import Callable

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

# Stand-ins for the arguments: digits no id reaches, each distinct from the others.
_STAND_INS = tuple(str(9_007_199_254_740_000 + i) for i in range(8))

_makers: dict[tuple, Callable[..., str] | None] = {}


def _maker(view_name: str, arity: int) -> Callable[..., str] | None:
    key = (get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), view_name, arity)
    try:
        return _makers[key]
    except KeyError:
        pass
    try:
        text = reverse(view_name, args=list(_STAND_INS[:arity]))
    except NoReverseMatch:
        maker = None
    else:
        pieces = [text]
        for stand_in in _STAND_INS[:arity]:
            head, found, tail = pieces.pop().partition(stand_in)
            if not found:
                pieces = None
                break
            pieces += [head, tail]
        if pieces is None:
            maker = None
        else:
            frozen = tuple(pieces)

            def maker(*args, frozen=frozen):
                out = [frozen[0]]
                for value, piece in zip(args, frozen[1:], strict=True):
                    out += [str(value), piece]
                return "".join(out)

    _makers[key] = maker
    return maker


def url(view_name: str, *args) -> str:
    """``reverse(view_name, args=args)``, from memory when the arguments are whole numbers."""
    if ":" not in view_name and all(type(arg) is int and arg >= 0 for arg in args):
        maker = _maker(view_name, len(args))
        if maker is not None:
            return maker(*args)
    return reverse(view_name, args=list(args))


def clear() -> None:
    """Forget every remembered route (for tests that swap the URL configuration)."""
    _makers.clear()
