"""Errors of the compression stage. All are ``ValueError``s: bad input the user must fix,
printed by the CLI as one line."""

from __future__ import annotations

from zoo.core.errors import EdgezooError


class CompressionError(EdgezooError, ValueError):
    """A compression request that cannot be carried out (bad settings, incompatible models)."""


class UnsupportedLayerError(CompressionError):
    """A layer a compression step cannot handle; names the step, the layer and its class."""

    def __init__(self, step: str, layer: str, cls: str, why: str):
        self.step, self.layer, self.cls, self.why = step, layer, cls, why
        super().__init__(f"{step}: layer {layer!r} ({cls}) cannot be handled: {why}")
