from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key, key)


@register.filter
def instrument_names(ids, names):
    return ", ".join(names.get(i, i) for i in ids)
