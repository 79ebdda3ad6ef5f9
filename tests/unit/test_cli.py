"""CLI plumbing: admin commands on a fresh data dir, and a clear error for an unreachable database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nbplane.cli import main


def test_admin_list_on_a_new_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["admin", "list", "--data-dir", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "nbplane.db").exists()


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:1/nothing"
    result = CliRunner().invoke(main, ["admin", "list", "--data-dir", str(tmp_path), "--database-url", url])
    assert result.exit_code == 1
    assert "Cannot open the database" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_no_auth_off_loopback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--data-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "0", "--insecure-no-auth"]
    )
    assert result.exit_code != 0
    assert "loopback" in result.output
