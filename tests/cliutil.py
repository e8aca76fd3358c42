"""What every CLI test checks of a failure: exit code 1 and exactly one `error: ...` line on stderr."""
from __future__ import annotations

from typing import Any


def assert_one_line_error(result: Any, *fragments: str, exit_code: int = 1) -> None:
    """`result` is click's CliRunner result; each fragment must appear in the one error line.
    (`exit_code`: `mlnb monitor` answers bad input with 2, keeping 1 for "the data drifted".)

    Progress lines ("running x.ipynb ...") may come before the error; nothing may follow it, so an
    error that spills over several lines (or a traceback) fails.
    """
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    try:
        stderr = result.stderr
    except ValueError:  # click < 8.2 (the oldest leg of the test matrix) mixes stderr into output
        stderr = result.output
    lines = stderr.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == len(lines) - 1, stderr
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
