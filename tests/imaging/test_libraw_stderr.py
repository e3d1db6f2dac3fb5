"""LibRaw's own lines on file descriptor 2 are captured in the decoding process and logged."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

from rawproc.imaging import libraw_stderr
from tests.samples import FIXTURES, REPO_ROOT


def write_fd2(text: str) -> None:
    os.write(2, text.encode())  # what fprintf(stderr, ...) in C does


def test_lines_written_to_fd2_are_captured_and_fd2_restored(capfd: object) -> None:
    before = os.fstat(2)
    with libraw_stderr.captured() as outer:
        write_fd2("photo.nef: Unexpected end of file\n")
        with libraw_stderr.captured() as inner:  # nested: shares the outer redirection
            write_fd2("data corrupted at 1378\n")
            assert "data corrupted at 1378" in inner.so_far()
        assert "Unexpected end of file" in outer.so_far()
    assert outer.lines == ["photo.nef: Unexpected end of file", "data corrupted at 1378"]
    assert inner.lines == []
    after = os.fstat(2)
    assert (before.st_ino, before.st_dev) == (after.st_ino, after.st_dev)
    assert libraw_stderr.summary(outer.lines) == (
        "LibRaw said: Unexpected end of file; data corrupted at 1378"
    )


def test_concurrent_threads_share_one_capture() -> None:
    barrier = threading.Barrier(4)
    found: list[list[str]] = []

    def work(i: int) -> None:
        with libraw_stderr.captured() as capture:
            barrier.wait()
            write_fd2(f"line {i}\n")
            barrier.wait()
        found.append(capture.lines)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(line for lines in found for line in lines) == [f"line {i}" for i in range(4)]


def test_a_child_forked_during_a_capture_gets_its_stderr_back() -> None:
    read, write = os.pipe()
    with libraw_stderr.captured():
        pid = os.fork()
        if pid == 0:  # the child: its fd 2 must be the real one again
            os.close(read)
            os.dup2(write, 1)
            ino = os.fstat(2).st_ino
            os.write(1, str(ino).encode())
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        child_ino = int(os.read(read, 100))
        os.close(read)
    assert status == 0
    assert child_ino == os.fstat(2).st_ino  # the parent's real stderr, not the capture file


def test_the_engine_logs_libraw_lines_at_debug_level_and_prints_none() -> None:
    """In a fresh process, as a worker runs it: the truncated NEF makes LibRaw print
    "Unexpected end of file"; it reaches the log, not standard error."""
    script = textwrap.dedent(
        f"""
        import logging, sys
        logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(message)s")
        logging.getLogger("rawproc.imaging.libraw").setLevel(logging.DEBUG)
        from rawproc.imaging import RenditionSpec, process_raw
        process_raw({str(FIXTURES / "raw" / "nikon_d7100_truncated.nef")!r},
                    [RenditionSpec("full", None)])
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert proc.stderr == ""
    assert "LibRaw: " in proc.stdout and "Unexpected end of file" in proc.stdout
