"""The one mapping from what ends a command to an exit code and one line (`nativa.errors.run_entry`), shared
by `nativa` and `python -m nativa.serve`: no user of either sees a traceback."""

from __future__ import annotations

import subprocess
import sys

import typer

from nativa.errors import BadInputError, run_entry


def _command(exc: BaseException) -> typer.core.TyperCommand:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def boom() -> None:
        raise exc

    return typer.main.get_command(app)


def test_nativa_errors_bugs_and_interrupts_become_exit_codes_and_one_line() -> None:
    lines: list[str] = []
    assert run_entry(_command(BadInputError("--n 0 is invalid: use 1 or more")), [], "t", lines.append) == 2
    assert run_entry(_command(RuntimeError("internal state")), [], "t", lines.append) == 1
    assert run_entry(_command(KeyboardInterrupt()), [], "t", lines.append) == 130
    assert lines == ["error: --n 0 is invalid: use 1 or more",
                     "error: unexpected RuntimeError: internal state (a bug in nativa: please report it)"]


def test_python_m_nativa_serve_answers_a_bad_flag_with_exit_2_and_no_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "nativa.serve", "--port", "99999"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "--port" in proc.stderr and "Traceback" not in proc.stderr
