"""The policy's errors: a wrong policy file, or a lookup of something it does not define."""

from __future__ import annotations

from typing import Iterable


class PolicyError(Exception):
    """The policy file is wrong, or a caller asked for something it does not define.

    ``problems`` holds (dotted key path, message) pairs; the message has one
    line per problem, each "<file>: <key path>: <what is wrong>".
    """

    def __init__(self, message: str, *, source: str | None = None, problems: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.source = source
        self.problems = tuple(problems)

    @classmethod
    def from_problems(cls, source: str, problems: list[tuple[str, str]]) -> "PolicyError":
        lines = [f"{source}: {path}: {problem}" for path, problem in problems]
        return cls("\n".join(lines), source=source, problems=problems)


class PolicyLookupError(PolicyError, KeyError):
    """A key the policy does not define (activity, subject kind, request type …)."""

    __str__ = Exception.__str__
