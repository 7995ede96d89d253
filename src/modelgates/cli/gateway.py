"""``modelgates models list``: what the providers file serves, with prices, as ``serve`` would
read it. Needs the [server] extra.
"""

from __future__ import annotations

import argparse

from modelgates.cli.common import CommandError
from modelgates.server.gateway.providers import Catalogue, ProvidersError, load_catalogue
from modelgates.server.settings import Settings, SettingsError, provider_key


def providers_catalogue(providers_file: str) -> Catalogue:
    """The catalogue ``serve`` would serve, or a one-line refusal naming the file's line."""
    try:
        return load_catalogue(providers_file, provider_key)
    except ProvidersError as error:
        raise CommandError(str(error)) from None


def models_list(args: argparse.Namespace) -> None:
    try:
        settings = Settings.load({"providers_file": args.providers})
    except SettingsError as error:
        raise CommandError(str(error)) from None
    if not settings.providers_file:
        raise CommandError(
            "no providers file: pass --providers FILE or set MODELGATES_PROVIDERS_FILE"
        )
    catalogue = providers_catalogue(settings.providers_file)
    rows = [("MODEL", "NAME", "INPUT $/M", "OUTPUT $/M", "CONTEXT", "MAX OUTPUT")]
    for model in catalogue.models.values():
        rows.append(
            (
                model.id,
                model.name,
                _plain(model.input_per_million),
                _plain(model.output_per_million),
                _tokens(model.context_length),
                _tokens(model.max_output_tokens),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    print(f"{len(catalogue.models)} models from {settings.providers_file} (USD per million tokens)")


def _plain(amount: object) -> str:
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _tokens(count: int | None) -> str:
    return "-" if count is None else str(count)
