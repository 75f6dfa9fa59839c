"""The one error of the pricing engine: a request that cannot be priced as given.

``PriceRequestError`` names the offending field by its path in the request, so a client sees
``tariffs[0].elements[1].price_components[0].step_size: must be ≥ 0`` instead of a 500 (style.md
habit 6). Strict decoding (``wire``), session building (``session``) and the engine raise it;
the lenient path for stored tariffs never raises but returns ``Unpriceable`` with a reason.
"""

from __future__ import annotations


class PriceRequestError(ValueError):
    """A pricing request refused: ``path`` is where (``""`` for the whole request), ``reason``
    what is wrong with it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)

    def under(self, prefix: str) -> PriceRequestError:
        """The same error with its path placed under ``prefix`` (e.g. ``plan``)."""
        return PriceRequestError(join_path(prefix, self.path), self.reason)


def join_path(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"
