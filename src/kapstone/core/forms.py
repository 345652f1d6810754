from kapstone.errors import InvalidInput, InvalidInputs


def apply_domain_errors(form, error: InvalidInput | InvalidInputs) -> None:
    """Show a domain error beside the field it names (or above the form)."""
    errors = error.errors if isinstance(error, InvalidInputs) else [error]
    for item in errors:
        field = item.field if item.field in form.fields else None
        label = form.fields[field].label or field.replace("_", " ").capitalize() if field else ""
        form.add_error(field, f"{label} {item.message}".strip() if field else str(item))
