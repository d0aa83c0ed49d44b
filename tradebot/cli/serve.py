"""``tradebot serve``: the HTTP API (and dashboard) with the bot scheduler."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, StrategyPathOpt, console, context, interrupt_note

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default loopback only)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0: any free port)."),
    ssl_certfile: Path = typer.Option(None, "--ssl-certfile", help="TLS certificate (PEM) to serve HTTPS."),
    ssl_keyfile: Path = typer.Option(None, "--ssl-keyfile", help="TLS private key (PEM)."),
    workers: int = typer.Option(1, "--job-workers", min=1, max=16, help="Background jobs run at once."),
    bots: bool = typer.Option(True, "--bots/--no-bots", help="Run enabled bots at each candle close."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: info, warning, error."),
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
) -> None:
    """Serve the HTTP API and run the bots.

    Bots in the database run at each candle close through the same paper service and
    per-account lock as `tradebot paper` (cron and server never run one account at once).
    Every /api route needs a token: `tradebot api token create`."""
    from tradebot.core.errors import UsageError

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise UsageError("--ssl-certfile and --ssl-keyfile go together")
    for opt, f in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
        if f is not None and not f.is_file():
            raise UsageError(f"{opt} {f}: no such file")
    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise UsageError(f"--log-level {log_level!r}: expected critical, error, warning, info or debug")
    tls = ssl_certfile is not None
    err = console(stderr=True)
    if host not in LOOPBACK and not tls:
        err.print(f"warning: serving on {host} without TLS: tokens and session cookies cross the network "
                  "in clear text; use --ssl-certfile/--ssl-keyfile or a TLS proxy")
    ctx = context(config, preset, None, strategy_path)
    import uvicorn

    from tradebot.api.app import create_app

    app = create_app(ctx, run_bots=bots, workers=workers, secure_cookies=tls)
    scheme = "https" if tls else "http"
    err.print(f"serving on {scheme}://{host}:{port}/ (dashboard at /, API docs at /docs); Ctrl-C stops",
              highlight=False)
    try:
        # log_config=None: uvicorn's loggers propagate to tradebot's logging setup (the log file and
        # the secret-scrubbing filter) instead of getting handlers of their own
        uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None, access_log=True,
                    server_header=False,
                    ssl_certfile=str(ssl_certfile) if tls else None, ssl_keyfile=str(ssl_keyfile) if tls else None)
    finally:
        ctx.close()
    from tradebot.cli.app import _SIGINT

    if _SIGINT.is_set():  # uvicorn stops gracefully on Ctrl-C and swallows it: end as any interrupted command
        interrupt_note("the server stopped after finishing its requests; nothing was lost")
        raise KeyboardInterrupt
