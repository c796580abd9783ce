"""dreamlift.threads: a run's CPU threads from the option, the environment, or the CPUs the process is given."""

import os

import pytest

from _helpers import error_message

from dreamlift import threads


def test_the_option_wins_then_dreamlift_threads_then_omp_num_threads_then_the_cpus(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 7)
    for variable in (threads.THREADS_VARIABLE, "OMP_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    assert threads.thread_count() == 7
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.thread_count() == 3
    monkeypatch.setenv(threads.THREADS_VARIABLE, "2")
    assert threads.thread_count() == 2 and threads.thread_count(5) == 5
    assert threads.share(2) == 1 and threads.share(1) == 2 and threads.share(8) == 1


@pytest.mark.parametrize("value, words", [("0", ["from 1 to 1024"]), ("two", ["whole number"]), ("5000", ["from 1 to 1024"])])
def test_a_bad_thread_setting_is_a_one_line_error(monkeypatch, value, words):
    monkeypatch.setenv(threads.THREADS_VARIABLE, value)
    error_message(threads.thread_count, threads.THREADS_VARIABLE, *words)


def test_the_cgroup_quota_caps_the_cpus(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpus(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpus(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert threads.cgroup_cpus(tmp_path) == 3.0
    assert 1 <= threads.available_cpus() <= len(os.sched_getaffinity(0))


def test_apply_threads_sets_torchs_pool():
    import torch

    before = torch.get_num_threads()
    try:
        assert threads.apply_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_app_divides_the_cores_among_its_workers(monkeypatch, tmp_path):
    from dreamlift.jobs.worker import WorkerPool

    monkeypatch.delenv(threads.THREADS_VARIABLE, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 8)
    assert WorkerPool(tmp_path, count=3).worker_env()[threads.THREADS_VARIABLE] == "2"
    monkeypatch.setenv(threads.THREADS_VARIABLE, "5")  # the user's choice stands
    assert WorkerPool(tmp_path, count=3).worker_env()[threads.THREADS_VARIABLE] == "5"
