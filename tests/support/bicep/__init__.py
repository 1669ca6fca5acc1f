"""A reader and resolver for the Bicep in infra/, so tests can check it against the app without a Bicep compiler.

``bicep("main.bicep")`` parses a file (:mod:`.reader`); ``resolve(main_scope(), value)`` evaluates a parsed value
as a deployment would (:mod:`.resolver`).
"""

from tests.support.bicep.reader import (
    INFRA,
    BicepFile,
    BicepParser,
    Conditional,
    Declaration,
    Expr,
    Loop,
    Token,
    bicep,
    body,
    tokenize,
    unquote,
)
from tests.support.bicep.resolver import (
    Lambda,
    Scope,
    Unresolved,
    evaluate,
    expand_loop,
    main_scope,
    module_scope,
    resolve,
    resolve_name,
    same_binding,
)

__all__ = [
    "INFRA",
    "BicepFile",
    "BicepParser",
    "Conditional",
    "Declaration",
    "Expr",
    "Lambda",
    "Loop",
    "Scope",
    "Token",
    "Unresolved",
    "bicep",
    "body",
    "evaluate",
    "expand_loop",
    "main_scope",
    "module_scope",
    "resolve",
    "resolve_name",
    "same_binding",
    "tokenize",
    "unquote",
]
