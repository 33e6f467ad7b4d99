# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: error types shared by parsers and collectors."""

from __future__ import annotations


class ParseError(ValueError):
    """A tool output that does not have the shape its parser expects.

    Carries the 1-based line number and the text of the offending line so the
    operator can see exactly which part of which output was not understood.
    """

    def __init__(self, source: str, message: str, line_number: int | None = None, line: str | None = None) -> None:
        self.source = source
        self.reason = message
        self.line_number = line_number
        self.line = line
        where = ""
        if line_number is not None:
            where = " at line %d: %r" % (line_number, line)
        super().__init__("cannot parse %s%s: %s" % (source, where, message))


class CommandError(RuntimeError):
    """A command that failed, timed out or could not be started."""

    def __init__(self, cmd: list[str], rc: int | None, stdout: str, stderr: str, message: str) -> None:
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(message)

    def as_dict(self) -> dict:
        return {"msg": str(self), "cmd": self.cmd, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


class LibraryMissing(RuntimeError):
    """A Python library that a subset needs is not importable on the managed host.

    The message is Ansible's standard missing-library text, so operators see the same words
    (and the same install hint) as for any other module.
    """

    def __init__(self, message: str, import_traceback: str) -> None:
        super().__init__(message)
        self.import_traceback = import_traceback
