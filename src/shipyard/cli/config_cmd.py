from __future__ import annotations

import typer

from shipyard.cli.context import JsonOption, ctx_of, print_json, print_table, reported

app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    """Every setting, its effective value (secrets masked) and where it came from."""
    cli = ctx_of(ctx)
    with reported(cli):
        loaded = cli.loaded()
        rows = loaded.explain()
        resolved = {
            "database_url": loaded.settings.database_url,
            "artifacts_url": loaded.settings.artifacts_url,
        }
        if json_out:
            print_json(
                {
                    "config_file": str(loaded.config_file) if loaded.config_file else None,
                    "settings": {r.key: {"value": r.value, "source": r.source} for r in rows},
                    "resolved": {k: _mask(v) for k, v in resolved.items()},
                }
            )
            return
        print_table(
            f"Configuration (file: {loaded.config_file or 'none'})",
            ["setting", "value", "source"],
            [[r.key, "" if r.value is None else r.value, r.source] for r in rows],
        )
        print_table("Resolved stores", ["store", "url"], [[k, _mask(v)] for k, v in resolved.items()])


def _mask(url: str) -> str:
    from shipyard.settings import mask_url_password

    return mask_url_password(url)
