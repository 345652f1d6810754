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


def where() -> tuple[str, str]:
    """The URL configuration and script prefix in force (read per thread or task, which
    costs more than the rest of a remembered link: a caller making many links in one go,
    such as a template, may read them once and pass them on)."""
    return get_urlconf() or settings.ROOT_URLCONF, get_script_prefix()


def _maker(
    view_name: str, arity: int, escape: Callable | None, place: tuple[str, str] | None
) -> Callable[..., str] | None:
    key = (*(place or where()), view_name, arity, escape)
    try:
        return _makers[key]
    except KeyError:
        pass
    try:
        text = reverse(view_name, args=list(_STAND_INS[:arity]))
    except NoReverseMatch:
        maker = None
    else:
        if escape is not None:
            # Escaping leaves the stand-in digits as they are, so the pieces are cut alike.
            text = escape(text)
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
            # The escaped pieces are safe text, and so is their join with digits.
            finish = type(text) if escape is not None else str

            def maker(*args, frozen=frozen, finish=finish):
                out = [frozen[0]]
                for value, piece in zip(args, frozen[1:], strict=True):
                    out += [str(value), piece]
                return finish("".join(out))

    _makers[key] = maker
    return maker


def url(
    view_name: str,
    *args,
    escape: Callable | None = None,
    place: tuple[str, str] | None = None,
) -> str:
    """``reverse(view_name, args=args)``, from memory when the arguments are whole numbers;
    passed through ``escape`` (the template's autoescape) when one is given. ``place`` is
    what ``where()`` returns now, when the caller has it."""
    if ":" not in view_name and all(type(arg) is int and arg >= 0 for arg in args):
        maker = _maker(view_name, len(args), escape, place)
        if maker is not None:
            return maker(*args)
    found = reverse(view_name, args=list(args))
    return escape(found) if escape is not None else found


def clear() -> None:
    """Forget every remembered route (for tests that swap the URL configuration)."""
    _makers.clear()
