"""Errors of the export stage.

``ValueError`` subclasses are the user's to fix (bad options, a model a target cannot take) and
the CLI prints them as one line; :class:`ExportFailed` collects everything that went wrong in one
``export_run`` (tool errors and parity failures) after the manifest recording it was written.
"""

from __future__ import annotations

from zoo.core.errors import EdgezooError


class ExportError(EdgezooError, RuntimeError):
    """Base class of the export stage's errors."""


class ExportOptionsError(ExportError, ValueError):
    """An unknown target, variant or option, or a value out of range; quotes what was received."""


class UnsupportedModelError(ExportError, ValueError):
    """A model (or some of its layers) that a target cannot take. Names the target and the layers."""

    def __init__(
        self, target: str, model: str, layers: list[tuple[str, str]] | None = None, why: str = ""
    ):
        self.target, self.model, self.layers, self.why = target, model, list(layers or []), why
        named = ", ".join(f"{n!r} ({c})" for n, c in self.layers)
        msg = f"{target}: model {model!r} cannot be exported"
        if named:
            msg += f": unsupported layer{'s' if len(self.layers) > 1 else ''} {named}"
        if why:
            msg += f" -- {why}"
        super().__init__(msg)


class ExportFailed(ExportError):
    """One or more artifacts of an export failed (an error, or a parity threshold).

    ``failures`` holds one line per problem; ``errors`` the exceptions raised by targets;
    ``manifest`` the path of the manifest.json that records them; ``kept`` says what was left
    unchanged instead (a failed re-export is discarded, the earlier export stays).
    """

    def __init__(self, failures: list[str], *, manifest=None, errors=(), kept: str = ""):
        self.failures, self.manifest, self.errors = list(failures), manifest, list(errors)
        where = (
            f" (recorded in {manifest})" if manifest else f" ({kept}, unchanged)" if kept else ""
        )
        head = f"export failed{where}: "
        super().__init__(head + "; ".join(self.failures))
