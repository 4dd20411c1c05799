"""The checks, one module each, in the order they run.

Active checks go first, the request burst of `resource_consumption` after them (it may trip a rate
limiter), and the passive checks that read every recorded exchange last.
"""

from __future__ import annotations

from types import ModuleType

from . import (
    authentication,
    baseline,
    bola,
    declaration_lint,
    documentation_drift,
    error_hygiene,
    function_authz,
    graphql,
    injection,
    input_validation,
    mass_assignment,
    misconfiguration,
    redos,
    resource_consumption,
    sensitive_data,
    uploads,
    user_enumeration,
)

ALL_CHECKS: list[ModuleType] = [
    baseline,
    misconfiguration,
    authentication,
    user_enumeration,
    bola,
    function_authz,
    mass_assignment,
    input_validation,
    injection,
    uploads,
    graphql,
    redos,
    resource_consumption,
    error_hygiene,
    sensitive_data,
    documentation_drift,
    declaration_lint,
]
