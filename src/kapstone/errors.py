"""Domain errors: what went wrong, in words a clinic's staff can act on.

Messages name the field and the rule, never the value a user typed: a value may be patient
data, and these messages reach logs and API responses. Pure Python.
"""


class DomainError(Exception):
    """A request the clinic's rules refuse."""


class InvalidInput(DomainError):
    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class InvalidInputs(DomainError):
    """Several fields wrong at once, so a form can show them all."""

    def __init__(self, errors: list[InvalidInput]):
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors))


class AccessDenied(DomainError):
    def __init__(self, permission: str):
        self.permission = permission
        super().__init__(f"this needs the permission '{permission}'")


class FieldErrors:
    """Collects field errors so a form can show every problem at once (actions use it)."""

    def __init__(self):
        self.errors: list[InvalidInput] = []

    def check(self, fn, *args, **kwargs):
        """``fn``'s result, or None with its field errors kept."""
        try:
            return fn(*args, **kwargs)
        except InvalidInputs as errors:
            self.errors.extend(errors.errors)
        except InvalidInput as error:
            self.errors.append(error)
        return None

    def add(self, field: str, message: str) -> None:
        self.errors.append(InvalidInput(field, message))

    def raise_any(self) -> None:
        if self.errors:
            raise InvalidInputs(self.errors)
