"""Extract the part of Twilio's 2010-04-01 OpenAPI description that the sandbox serves.

Run from the repo root when Twilio publishes a new description:
    python -m sandbox.spec.extract ../shared/twilio/twilio_api_v2010.json

It keeps the Calls and Messages paths (only the methods the sandbox answers), every component they
reference, and drops prose (descriptions, examples) that the validator never reads, so the vendored
file stays small and loads fast.
"""

import json
import sys
from pathlib import Path
from typing import Any

SERVED: dict[str, tuple[str, ...]] = {
    "/2010-04-01/Accounts/{AccountSid}/Calls.json": ("get", "post"),
    "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json": ("get", "post"),
    "/2010-04-01/Accounts/{AccountSid}/Messages.json": ("get", "post"),
    "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json": ("get",),
}
PROSE_KEYS = {"description", "summary", "examples", "example", "x-twilio", "tags"}
OUTPUT = Path(__file__).with_name("twilio_api_v2010_sandbox.json")


def strip_prose(node: Any) -> Any:
    if isinstance(node, dict):
        # "properties" maps parameter names, some of which could collide with PROSE_KEYS.
        return {
            k: strip_prose(v) for k, v in node.items() if k not in PROSE_KEYS or _is_name_map(node)
        }
    if isinstance(node, list):
        return [strip_prose(v) for v in node]
    return node


def _is_name_map(node: dict[str, Any]) -> bool:
    return all(isinstance(v, dict) and ("type" in v or "$ref" in v) for v in node.values())


def referenced_schemas(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            referenced_schemas(value, found)
    elif isinstance(node, list):
        for value in node:
            referenced_schemas(value, found)


def extract(full: dict[str, Any]) -> dict[str, Any]:
    paths = {
        path: {k: v for k, v in full["paths"][path].items() if k in methods or k == "servers"}
        for path, methods in SERVED.items()
    }
    schemas = full["components"]["schemas"]
    names: set[str] = set()
    referenced_schemas(paths, names)
    while True:  # follow references between components until nothing new appears
        before = len(names)
        referenced_schemas([schemas[n] for n in names], names)
        if len(names) == before:
            break
    components = {
        "securitySchemes": full["components"]["securitySchemes"],
        "schemas": {n: schemas[n] for n in sorted(names)},
    }
    spec = {k: full[k] for k in ("openapi", "info", "servers", "security")}
    stripped: dict[str, Any] = strip_prose({**spec, "paths": paths, "components": components})
    for operations in stripped["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict):  # the path-level "servers" list
                continue
            for response in operation.get("responses", {}).values():
                response["description"] = ""  # required by OpenAPI 3.0, even when empty
    return stripped


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/twilio/twilio_api_v2010.json")
    spec = extract(json.loads(source.read_text()))
    OUTPUT.write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
