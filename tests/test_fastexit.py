"""fastexit.exit_now, as the launchers use it: in a child interpreter, with real threads and pipes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")


def _run(body: str) -> subprocess.CompletedProcess[str]:
    script = f"import sys\nsys.path.insert(0, {SRC!r})\nfrom dockyard.fastexit import exit_now\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-IS", "-c", script], capture_output=True, text=True, timeout=30, check=False)


def test_buffered_output_is_flushed_and_the_code_kept() -> None:
    result = _run("""
        sys.stdout.write("no newline, still buffered")
        sys.stderr.write("err")
        exit_now(7)
    """)
    assert (result.returncode, result.stdout, result.stderr) == (7, "no newline, still buffered", "err")


def test_a_running_thread_gets_the_normal_exit(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    result = _run(f"""
        import threading, time
        def late():
            time.sleep(0.3)
            open({str(marker)!r}, "w").write("finished")
        threading.Thread(target=late).start()
        exit_now(3)
    """)
    assert result.returncode == 3
    assert marker.read_text() == "finished"  # os._exit would have cut the thread off


def test_a_closed_stdout_is_reported_not_hidden() -> None:
    # stdout is a pipe nobody reads any more: flushing fails, and the normal exit reports it.
    proc = subprocess.Popen([sys.executable, "-IS", "-c",
                             f"import sys\nsys.path.insert(0, {SRC!r})\nfrom dockyard.fastexit import exit_now\n"
                             "sys.stdin.read()\nsys.stdout.write('x' * 10)\nexit_now(0)\n"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stdin.close()
    assert proc.wait(timeout=30) != 0
    assert b"BrokenPipeError" in proc.stderr.read()
    proc.stderr.close()
