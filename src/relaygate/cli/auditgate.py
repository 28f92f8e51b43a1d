"""Which command lines the audit log records: decided from the words alone, before anything is imported.

Every CLI run ends through ``main``; a read command (most of them) leaves at once instead of loading the
operators' command module and the audit log's code for nothing (``relaygate.cli.operators.audit_command``
records the rest).
"""

from __future__ import annotations

CHANGING = {"add", "create", "update", "delete", "disable", "enable", "topup", "adjust", "refund", "set", "apply",
            "switch", "rollback", "complete", "observe", "sync", "confirm", "plan", "import", "rotate", "retire",
            "legacy", "test", "upgrade", "resolve", "dispute", "done"}
SELF_AUDITED = {"operators", "admin-tokens"}


def may_audit(argv: list[str]) -> bool:
    """True when ``argv`` is a changing command that records itself nowhere else."""
    words = [a for a in argv if not a.startswith("-")]
    if len(words) < 2 or words[0] in SELF_AUDITED or not (set(words[1:3]) & CHANGING):
        return False
    return "--help" not in argv and "--dry-run" not in argv
