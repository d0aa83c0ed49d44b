"""``tradebot schedule``: crontab entries or systemd timers for unattended runs.

Jobs: one ``tradebot paper -a NAME`` per paper account, a minute after each close of its
timeframe; ``tradebot watch`` every 5 minutes (missed heartbeats, stale data); a daily
``tradebot db backup --keep N``; and any ``--job NAME=CRON=ARGS`` (retraining with
``train ...``, re-optimization with ``optimize ... --export-preset ...``).

Everything written is marked as managed by tradebot: one delimited block in the crontab
(the rest of the crontab is kept byte for byte), or unit files whose first line says so.
Installing again replaces what tradebot wrote before (idempotent); ``remove`` deletes it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tradebot.core.errors import TradebotError, UsageError

__all__ = ["BEGIN", "END", "Job", "cron_to_oncalendar", "jobs_for", "merge_crontab", "remove_crontab",
           "systemd_units"]

BEGIN = "# >>> managed by tradebot (`tradebot schedule`); edits here are replaced >>>"
END = "# <<< managed by tradebot <<<"
UNIT_MARK = "# managed by tradebot (`tradebot schedule`)"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_DOW = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass(frozen=True)
class Job:
    name: str  # unit/file-safe
    cron: str  # five fields
    args: tuple[str, ...]  # tradebot arguments


def cron_for_timeframe(timeframe: str) -> str:
    """A minute after each candle close (cron's finest step is a minute)."""
    amount, unit = int(timeframe[:-1]), timeframe[-1]
    if unit == "s" or (unit == "m" and amount == 1):
        return "* * * * *"
    if unit == "m":
        if 60 % amount:
            raise UsageError(f"timeframe {timeframe} does not divide an hour; schedule it with --job")
        return f"1-59/{amount} * * * *"
    if unit == "h":
        if 24 % amount:
            raise UsageError(f"timeframe {timeframe} does not divide a day; schedule it with --job")
        return "1 * * * *" if amount == 1 else f"1 */{amount} * * *"
    if unit == "d" and amount == 1:
        return "1 0 * * *"
    if unit == "w" and amount == 1:
        return "1 0 * * 1"
    raise UsageError(f"cannot derive a schedule for timeframe {timeframe}; schedule it with --job")


def check_cron(expr: str) -> str:
    fields = expr.split()
    if len(fields) != 5 or not all(_FIELD.match(f) for f in fields):
        raise UsageError(f"invalid cron schedule {expr!r}: expected five fields such as '0 3 * * 0'")
    return " ".join(fields)


def parse_job(text: str) -> Job:
    """``NAME=CRON=ARGS`` (e.g. ``retrain=0 3 * * 0=train --name trend --if-older 7d``)."""
    parts = text.split("=", 2)
    if len(parts) != 3 or not parts[2].strip():
        raise UsageError(f"invalid --job {text!r}: expected NAME=CRON=ARGS, "
                         "e.g. 'retrain=0 3 * * 0=train --name trend --if-older 7d'")
    name, cron, args = parts[0].strip(), parts[1].strip(), parts[2].strip()
    if not _NAME.match(name):
        raise UsageError(f"invalid job name {name!r}: letters, digits, '_', '-', '.'")
    return Job(name, check_cron(cron), tuple(shlex.split(args)))


def jobs_for(accounts: list[tuple[str, str]], extra: list[Job], *, watch: bool = True,
             backup_keep: int | None = 7) -> list[Job]:
    """The jobs for ``(account, timeframe)`` pairs, the watch and backup jobs and ``extra``."""
    jobs = [Job(f"paper-{name}", cron_for_timeframe(tf), ("paper", "--account", name))
            for name, tf in accounts]
    if watch:
        jobs.append(Job("watch", "*/5 * * * *", ("watch",)))
    if backup_keep:
        jobs.append(Job("backup", "30 2 * * *", ("db", "backup", "--keep", str(backup_keep))))
    names = [j.name for j in jobs]
    for job in extra:
        if job.name in names:
            raise UsageError(f"job name {job.name!r} is used twice")
        names.append(job.name)
        jobs.append(job)
    return jobs


def command_line(job: Job, program: list[str], env: dict[str, str]) -> str:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    cmd = " ".join(shlex.quote(a) for a in [*program, *job.args])
    return f"{prefix} {cmd}".strip()


def program() -> list[str]:
    """How cron/systemd start tradebot: the installed script beside this interpreter."""
    script = Path(sys.executable).parent / "tradebot"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tradebot.cli.app"]


# --------------------------------------------------------------------------- crontab


def crontab_block(jobs: list[Job], prog: list[str], env: dict[str, str]) -> str:
    lines = [BEGIN]
    for job in jobs:
        lines.append(f"# {job.name}")
        # stdout dropped (the log file has it); stderr stays, so cron mails a failing run's error line
        lines.append(f"{job.cron} {command_line(job, prog, env)} >/dev/null")
    lines.append(END)
    return "\n".join(lines) + "\n"


def _split(text: str) -> tuple[str, str | None, str]:
    """(before, managed block or None, after)."""
    start = text.find(BEGIN)
    if start < 0:
        return text, None, ""
    end = text.find(END, start)
    if end < 0:
        raise TradebotError("the crontab has tradebot's start marker but not its end marker; fix it by hand")
    end += len(END)
    if end < len(text) and text[end] == "\n":
        end += 1
    return text[:start], text[start:end], text[end:]


def merge_crontab(current: str, block: str) -> str:
    """``current`` with tradebot's block replaced by (or appended as) ``block``."""
    before, _, after = _split(current)
    if before and not before.endswith("\n"):
        before += "\n"
    return before + block + after


def remove_crontab(current: str) -> tuple[str, bool]:
    before, block, after = _split(current)
    return before + after, block is not None


def managed_lines(current: str) -> list[str]:
    _, block, _ = _split(current)
    if block is None:
        return []
    return [line for line in block.splitlines()[1:-1] if line and not line.startswith("#")]


def read_crontab(file: Path | None) -> str:
    if file is not None:
        return file.read_text() if file.exists() else ""
    if shutil.which("crontab") is None:
        raise TradebotError("crontab not found: install cron, or use --systemd, or --crontab-file FILE")
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return ""
        raise TradebotError(f"crontab -l failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def write_crontab(file: Path | None, text: str) -> None:
    if file is not None:
        from tradebot.core.atomic import atomic_write_bytes

        atomic_write_bytes(file, text.encode())
        return
    proc = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TradebotError(f"crontab - failed: {proc.stderr.strip() or proc.returncode}")


# --------------------------------------------------------------------------- systemd


def _calendar_field(field: str, names: list[str] | None = None, width: int = 2) -> str:
    out = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            text = f"{0 if names is None else ''}" if step else "*"
        elif "-" in base:
            a, b = base.split("-")
            text = f"{names[int(a)]}..{names[int(b)]}" if names else f"{int(a):0{width}d}..{int(b):0{width}d}"
        else:
            text = names[int(base)] if names else f"{int(base):0{width}d}"
        if step:
            if names:
                raise UsageError(f"a day-of-week step ({field}) has no systemd equivalent")
            text = f"{text or '00'}/{int(step)}"
        out.append(text)
    return ",".join(out)


def cron_to_oncalendar(expr: str) -> str:
    """Five cron fields as a systemd ``OnCalendar=`` expression (``1 */4 * * *`` ->
    ``*-*-* 00/4:01:00``)."""
    minute, hour, dom, month, dow = check_cron(expr).split()
    if "-" in minute and "/" in minute:  # 1-59/5: from 1, every 5
        start, step = minute.split("-")[0], minute.split("/")[1]
        minute_text = f"{int(start):02d}/{int(step)}"
    else:
        minute_text = _calendar_field(minute)
    date = f"*-{_calendar_field(month)}-{_calendar_field(dom)}"
    day = "" if dow == "*" else _calendar_field(dow, _DOW) + " "
    return f"{day}{date} {_calendar_field(hour)}:{minute_text}:00"


def systemd_units(jobs: list[Job], prog: list[str], env: dict[str, str]) -> dict[str, str]:
    """File name -> content of a ``.service`` and a ``.timer`` per job."""
    units: dict[str, str] = {}
    for job in jobs:
        unit = f"tradebot-{job.name}"
        environment = "".join(f"Environment={shlex.quote(f'{k}={v}')}\n" for k, v in sorted(env.items()))
        cmd = " ".join(shlex.quote(a) for a in [*prog, *job.args])
        units[f"{unit}.service"] = (
            f"{UNIT_MARK}\n[Unit]\nDescription=tradebot {job.name}\n\n[Service]\nType=oneshot\n"
            f"{environment}ExecStart={cmd}\n")
        units[f"{unit}.timer"] = (
            f"{UNIT_MARK}\n[Unit]\nDescription=tradebot {job.name} ({job.cron})\n\n[Timer]\n"
            f"OnCalendar={cron_to_oncalendar(job.cron)}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n")
    return units


def managed_units(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("tradebot-*.*") if p.suffix in (".service", ".timer")
                  and p.read_text().startswith(UNIT_MARK))
