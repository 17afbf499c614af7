"""One clear line when an optional extra is missing.

The core install is the session store alone (the SDK, aioboto3, pydantic and
PynamoDB). The command line needs ``[cli]`` (Typer and Rich); the embedded local
DynamoDB and the demo need ``[local]`` (moto's server). A missing one is
reported as the pip command that installs it, never as a bare ModuleNotFoundError.
"""

from __future__ import annotations

import importlib.util
from typing import NoReturn

__all__ = ["missing_extra", "require"]


def missing_extra(feature: str, extra: str, cause: ImportError | None = None) -> NoReturn:
    """Raise the ImportError that names the extra `feature` needs."""
    error = ImportError(
        f"{feature} needs the [{extra}] extra: pip install 'openai-agents-session[{extra}]'"
    )
    if cause is None:
        raise error
    raise error from cause


def require(module: str, *, feature: str, extra: str) -> None:
    """Raise `missing_extra` unless `module` can be imported."""
    if importlib.util.find_spec(module) is None:
        missing_extra(feature, extra)
