"""`imgclf models`: inspect the model registry."""

from __future__ import annotations

import argparse

from imgclf.cli.options import add_registry


def register(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="inspect the model registry", allow_abbrev=False)
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every model with its versions and aliases", allow_abbrev=False)
    add_registry(listing)
    listing.set_defaults(handler=list_models)


def list_models(args: argparse.Namespace) -> int:
    from imgclf.registry import Registry

    registry = Registry(args.registry)
    names = registry.list_models()
    if not names:
        print(f"no models in {registry.root}")
    for name in names:
        aliases = ", ".join(f"{alias}→{version}" for alias, version in sorted(registry.aliases(name).items()))
        print(f"{name}\tversions: {', '.join(registry.list_versions(name))}\taliases: {aliases or '-'}")
    return 0
