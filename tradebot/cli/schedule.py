"""``tradebot schedule install|list|remove``: crontab entries (or systemd timers) for paper
accounts, the watch and backup jobs, retraining and re-optimization."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, console, context

app = typer.Typer(help="Cron entries or systemd timers for unattended runs (managed by tradebot).",
                  no_args_is_help=True)

CrontabOpt = typer.Option(None, "--crontab-file", help="Edit this file instead of the user's crontab.")
SystemdOpt = typer.Option(False, "--systemd", help="systemd user timers instead of crontab entries.")
UnitDirOpt = typer.Option(None, "--unit-dir", help="Folder of the unit files (default ~/.config/systemd/user).")


def _unit_dir(unit_dir: Path | None) -> Path:
    return unit_dir or Path("~/.config/systemd/user").expanduser()


@app.command("install")
def install(
    account: list[str] = typer.Option([], "--account", "-a", help="Paper accounts (default: every one)."),
    job: list[str] = typer.Option([], "--job", help="Another job NAME=CRON=ARGS, e.g. "
                                  "'retrain=0 3 * * 0=train --name trend --if-older 7d' "
                                  "or 'reopt=0 4 1 * *=optimize ...'."),
    no_watch: bool = typer.Option(False, "--no-watch", help="Leave out `tradebot watch` (every 5 min)."),
    no_backup: bool = typer.Option(False, "--no-backup", help="Leave out the daily `tradebot db backup`."),
    systemd: bool = SystemdOpt,
    crontab_file: Path = CrontabOpt,
    unit_dir: Path = UnitDirOpt,
    config: Path = ConfigOpt,
) -> None:
    """Write (or rewrite) tradebot's entries; running it again changes nothing."""
    from tradebot.core.errors import UsageError
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services import schedule as sch

    ctx = context(config)
    try:
        extra = [sch.parse_job(j) for j in job]
        with ctx.store.session() as session:
            known = {a.name: a.timeframe for a in PaperRepository(session).all()}
        missing = [a for a in account if a not in known]
        if missing:
            raise UsageError(f"no paper account {missing[0]!r} (accounts: {', '.join(sorted(known)) or 'none'})")
        chosen = [(a, known[a]) for a in (account or sorted(known))]
        jobs = sch.jobs_for(chosen, extra, watch=not no_watch,
                            backup_keep=None if no_backup else ctx.settings.ops.backup_keep)
        env = {"TRADEBOT_HOME": str(Path(ctx.settings.home).resolve())}
        prog = sch.program()
        if config is not None:
            jobs = [sch.Job(j.name, j.cron, (*j.args, "--config", str(config.resolve()))) for j in jobs]
    finally:
        ctx.close()
    out = console()
    if systemd:
        folder = _unit_dir(unit_dir)
        units = sch.systemd_units(jobs, prog, env)
        stale = [p for p in sch.managed_units(folder) if p.name not in units]
        from tradebot.core.atomic import atomic_write_bytes

        for name, text in units.items():
            atomic_write_bytes(folder / name, text.encode())
        for path in stale:
            path.unlink()
        out.print(f"{len(jobs)} timer(s) in {folder}; enable them with: systemctl --user daemon-reload && "
                  "systemctl --user enable --now " + " ".join(n for n in units if n.endswith(".timer")))
        return
    current = sch.read_crontab(crontab_file)
    new = sch.merge_crontab(current, sch.crontab_block(jobs, prog, env))
    if new != current:
        sch.write_crontab(crontab_file, new)
    out.print(f"{len(jobs)} job(s) {'installed' if new != current else 'already installed'} in "
              f"{crontab_file or 'the crontab'}: {', '.join(j.name for j in jobs)}")


@app.command("list")
def list_cmd(systemd: bool = SystemdOpt, crontab_file: Path = CrontabOpt, unit_dir: Path = UnitDirOpt) -> None:
    """Show the entries tradebot manages."""
    from tradebot.services import schedule as sch

    out = console()
    if systemd:
        units = sch.managed_units(_unit_dir(unit_dir))
        for p in units:
            out.print(str(p), markup=False)
        if not units:
            out.print("no tradebot timers")
        return
    lines = sch.managed_lines(sch.read_crontab(crontab_file))
    for line in lines:
        out.print(line, markup=False, soft_wrap=True)
    if not lines:
        out.print("no tradebot entries")


@app.command("remove")
def remove(systemd: bool = SystemdOpt, crontab_file: Path = CrontabOpt, unit_dir: Path = UnitDirOpt) -> None:
    """Delete every entry (or unit file) tradebot manages; nothing else is touched."""
    from tradebot.services import schedule as sch

    out = console()
    if systemd:
        units = sch.managed_units(_unit_dir(unit_dir))
        for p in units:
            p.unlink()
        out.print(f"removed {len(units)} unit file(s)" + ("; run: systemctl --user daemon-reload" if units else ""))
        return
    current = sch.read_crontab(crontab_file)
    new, found = sch.remove_crontab(current)
    if found:
        sch.write_crontab(crontab_file, new)
    out.print("removed tradebot's entries" if found else "no tradebot entries")
