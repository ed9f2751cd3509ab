"""The local folders a batch job may touch ($IMGCLF_ALLOWED_ROOTS, set by whoever runs the cluster).

    roots = AllowedRoots.resolve(("/data",))
    roots.refusal("/data/photos/../../etc", "input")   # "input /etc is outside the allowed roots /data (...)"

Paths are compared after resolving symlinks and `..`, so a link inside a root that points outside it is refused.
No roots means no restriction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from imgclf.batch.settings import ALLOWED_ROOTS_ENV


@dataclass(frozen=True)
class AllowedRoots:
    folders: tuple[str, ...] = ()  # resolved absolute paths; (): everything is allowed

    @classmethod
    def resolve(cls, roots: Sequence[str]) -> AllowedRoots:
        return cls(tuple(os.path.realpath(os.path.expanduser(root)) for root in roots))

    def __bool__(self) -> bool:
        return bool(self.folders)

    def holds(self, real_path: str) -> bool:
        """True when the resolved path is one of the roots or lies below one."""
        return not self.folders or any(
            real_path == root or real_path.startswith(root.rstrip("/") + "/") for root in self.folders
        )

    def refusal(self, path: str, what: str) -> str | None:
        """Why `path` (resolved here) may not be used as `what`, or None when it may."""
        real = os.path.realpath(path)
        if self.holds(real):
            return None
        shown = real if real == os.path.abspath(path) else f"{path} (resolves to {real})"
        return f"{what} {shown} is outside the allowed roots {', '.join(self.folders)} (${ALLOWED_ROOTS_ENV})"
