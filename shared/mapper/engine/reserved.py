"""The platform's own Pub/Sub topics and subscriptions, which no integration may name.

The internal topic (`INTERNAL_TOPIC`) carries every integration's payloads and headers to the
worker; a source reading it, or repointing its worker subscription, would read or stop every
other integration's deliveries. So a Pub/Sub source may not name, in the platform's project
(`GOOGLE_CLOUD_PROJECT`), a topic or subscription whose name starts with the internal topic's,
the pull-tasks topic's (`PULL_TASKS_TOPIC`) or `mapper-`: that covers the topics (the
internal topic's `-ordered` twin too) and their `-worker`, `-dead-letter`,
`-dead-letter-push` and `-push` subscriptions (infra/pubsub.tf, local/serve.py). In any
project, a subscription named `mapper-...` is one the platform made for an integration
and only that integration uses it (left empty, the source gets its own).
Names are compared without regard to case, as full resource names or short ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Problem

# The prefix of the subscriptions the platform makes for integrations (mapper-<integration id>)
# and of every resource infra/ names with the default name_prefix.
PLATFORM_PREFIX = "mapper-"
DEFAULT_PROJECT = "demo-mapper"
DEFAULT_INTERNAL_TOPIC = "mapper-events"
DEFAULT_PULL_TASKS_TOPIC = "mapper-pull-tasks"
_SERVICE = "//pubsub.googleapis.com/"


@dataclass(frozen=True)
class PlatformPubSub:
    """The platform's project and the name prefixes of its own topics and subscriptions."""

    project: str
    prefixes: tuple[str, ...]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PlatformPubSub:
        """As configured: GOOGLE_CLOUD_PROJECT, INTERNAL_TOPIC and PULL_TASKS_TOPIC."""
        env = os.environ if environ is None else environ
        project = env.get("GOOGLE_CLOUD_PROJECT") or DEFAULT_PROJECT
        topics = (
            env.get("INTERNAL_TOPIC") or DEFAULT_INTERNAL_TOPIC,
            env.get("PULL_TASKS_TOPIC") or DEFAULT_PULL_TASKS_TOPIC,
        )
        return cls(project.lower(), (*(t.lower() for t in topics), PLATFORM_PREFIX))

    def problems(self, source: Any) -> list[Problem]:
        """Where a Pub/Sub source (as given, any types) names one of the platform's own."""
        if not isinstance(source, Mapping) or source.get("type") != "pubsub":
            return []
        project = source.get("projectId", source.get("project_id"))
        project = project.strip().lower() if isinstance(project, str) else ""
        found = []
        for field, kind in (("topic", "topics"), ("subscription", "subscriptions")):
            value = source.get(field)
            if not isinstance(value, str) or not value.strip():
                continue
            where, name = _split(value, kind, project)
            if self._reserved(where, name, kind):
                found.append(
                    Problem(
                        f"source.{field}",
                        f"names the platform's own {kind[:-1]} {value.strip()}; "
                        "integrations may not read or change it",
                    )
                )
        return found

    def _reserved(self, project: str, name: str, kind: str) -> bool:
        if kind == "subscriptions" and name.startswith(PLATFORM_PREFIX):
            return True  # another integration's subscription, in whichever project
        return project == self.project and name.startswith(self.prefixes)


def _split(value: str, kind: str, default_project: str) -> tuple[str, str]:
    """(project, short name) of a name given short or as a full resource name, lower case."""
    text = value.strip().lower().removeprefix(_SERVICE)
    parts = text.split("/")
    if len(parts) >= 2 and parts[0] == "projects":
        rest = parts[3:] if len(parts) >= 4 and parts[2] == kind else parts[2:]
        return parts[1], "/".join(rest)
    return default_project, text
