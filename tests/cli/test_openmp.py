import os

from rawproc.cli._openmp import share_cores


def test_each_process_gets_its_share_of_the_cores() -> None:
    cores = os.cpu_count() or 1
    env: dict[str, str] = {}
    share_cores(env, 1)
    assert env["OMP_NUM_THREADS"] == str(cores)
    env = {}
    share_cores(env, cores * 4)
    assert env["OMP_NUM_THREADS"] == "1"


def test_a_users_setting_wins() -> None:
    env = {"OMP_NUM_THREADS": "3"}
    share_cores(env, 64)
    assert env["OMP_NUM_THREADS"] == "3"
