"""How long a newsroom waits at the command line: prints its figures (not a test).

    .venv/bin/python benchmarks/bench_ux.py            # all figures, about a minute
    .venv/bin/python benchmarks/bench_ux.py --repeat 3 # median of three runs each

1. a targets file with mistakes: start of `policyaudit audit` to its exit (error list printed);
2. `policyaudit demo` end to end with the default settings (Prefect only when a server runs),
   and `policyaudit demo --prefect` (a temporary Prefect server, started beside the work);
3. time to the first line of output of `policyaudit audit` (direct and through Prefect), and to
   the first progress line (services fetched / stored).

Each command runs as a fresh process (import time counts), in a fresh folder, with a fresh
PREFECT_HOME and no PREFECT_API_URL, as a new user would run it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.demo import demo_server, write_targets  # noqa: E402

POLICYAUDIT = Path(sys.executable).parent / "policyaudit"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYAUDIT_", "PREFECT_API_URL"))}
    env.update({"PREFECT_HOME": str(home), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING"})
    return env


def timed(args: list[str], cwd: Path) -> tuple[float, float | None, float | None, int]:
    """Seconds to exit, to the first line of output, to the first progress line; exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(POLICYAUDIT), *args], cwd=cwd, env=_env(cwd / "prefect-home"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first: list[float] = []
    progress: list[float] = []

    def watch(stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            now = time.perf_counter() - start
            if line.strip() and not first:
                first.append(now)
            if " fetched " in line and not progress:
                progress.append(now)

    threads = [threading.Thread(target=watch, args=(s,)) for s in (proc.stdout, proc.stderr)]
    for t in threads:
        t.start()
    code = proc.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - start, min(first) if first else None, min(progress) if progress else None, code


def median(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    return f"{statistics.median(got):5.1f} s" if got else "    —  "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    repeat = parser.parse_args().repeat
    rows: dict[str, list[tuple[float, float | None, float | None, int]]] = {}

    def run(name: str, args: list[str], setup: object = None) -> None:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory(prefix="bench-ux-") as tmp:
                cwd = Path(tmp)
                if setup is not None:
                    setup(cwd)  # type: ignore[operator]
                rows.setdefault(name, []).append(timed(args, cwd))

    def bad_targets(cwd: Path) -> None:
        lines = ["id,name,kind,policy_url"] + [f"s{i},S{i},app,https://s{i}.example/p" for i in range(500)]
        lines += ["s1,Dup,bogus,https://x.example/p", "z,Z,app,notaurl"]
        (cwd / "bad.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    run("targets file with 3 mistakes (500 rows): error printed, exit", ["audit", "bad.csv", "--label", "x"], bad_targets)
    run("demo, default settings (no Prefect server running)", ["demo"])
    run("demo --prefect (temporary Prefect server beside the work)", ["demo", "--prefect"])
    with demo_server() as base:
        def demo_targets(cwd: Path) -> None:
            write_targets(base, cwd / "targets.csv")

        flags = ["--allow-private", "--no-classifier"]
        run("audit of 9 services, --no-prefect", ["audit", "targets.csv", "--label", "b", "--no-prefect", *flags], demo_targets)
        run("audit of 9 services through Prefect (default)", ["audit", "targets.csv", "--label", "b", *flags], demo_targets)

    print(f"{'command':62} {'exit':>8} {'1st line':>9} {'progress':>9}  code")
    for name, results in rows.items():
        wall, first, prog, code = zip(*results, strict=True)
        print(f"{name:62} {median(list(wall)):>8} {median(list(first)):>9} {median(list(prog)):>9}  {sorted(set(code))}")


if __name__ == "__main__":
    main()
