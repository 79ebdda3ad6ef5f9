"""The `nbplane` command. Parses options and hands over to the app and the store; no logic of its own."""

from __future__ import annotations

import click

from nbplane.cli.admin import admin, auth
from nbplane.cli.kernels import kernels
from nbplane.cli.serve import info, serve


@click.group()
@click.version_option(package_name="nbplane")
def main() -> None:
    """nbplane: the AIDP Workbench Notebook API on real Jupyter kernels."""


main.add_command(serve)
main.add_command(info)
main.add_command(admin)
main.add_command(auth)
main.add_command(kernels)

__all__ = ["main"]
