"""Print which scope each API operation needs, as the Markdown table README.md carries.

The table is made from the views' ``required_scopes`` (``fmugateway.core.scopes``), so it
cannot drift from what is enforced; a test compares README.md with this output.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from fmugateway.core.routes import api_operations
from fmugateway.core.scopes import SCOPES, Scope, requirement

HIDDEN = {"/api/v1/", "/api/v1/schema/", "/api/v1/docs/"}
OTHER = {
    "any key": "any API key, whatever its scopes",
    "public": "anyone, with or without credentials",
}


def scopes_table() -> str:
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for operation in api_operations():
        if operation.route in HIDDEN:
            continue
        needed = requirement(operation.view, operation.method)
        if needed is None:  # the API refuses such an operation (scope_undeclared)
            raise CommandError(f"{operation.route} {operation.method} declares no scope.")
        if needed.scope is None:
            key = "public" if needed.anonymous else "any key"
        else:
            key = needed.scope
        path = operation.schema_path.removeprefix("/api/v1")
        suffix = " (anonymous: public objects)" if needed.anonymous and needed.scope else ""
        groups.setdefault(key, []).append((path, operation.method, suffix))
    labels = dict(Scope.choices)
    rows = ["| scope | what it allows | operations |", "|---|---|---|"]
    for key in [*SCOPES, "any key", "public"]:
        if key not in groups:
            continue
        meaning = labels[key].split(": ", 1)[-1] if key in labels else OTHER[key]
        operations = [f"`{method} {path}`{suffix}" for path, method, suffix in sorted(groups[key])]
        rows.append(f"| `{key}` | {meaning} | {', '.join(operations)} |")
    return "\n".join(rows)


class Command(BaseCommand):
    help = "Print the Markdown table of the scope each API operation needs."

    def handle(self, *args, **options) -> None:
        self.stdout.write(scopes_table())
