"""Refusals of the golden model: :class:`EespError` carries the :class:`common.codes.Code`
of the rule a frame or request broke (docs/spec.md section 2.2 and the sections after it)."""

from __future__ import annotations

from common.codes import Code

__all__ = ["Code", "EespError"]


class EespError(Exception):
    """A frame or request the profile refuses; ``code`` names the rule broken."""

    def __init__(self, code: Code, detail: str = "") -> None:
        self.code = Code(code)
        self.detail = detail
        super().__init__(f"{self.code.name}: {detail}" if detail else self.code.name)

    def __reduce__(self):
        # picklable (e.g. raised in a worker process): rebuilt from its code and detail
        return type(self), (self.code, self.detail)
