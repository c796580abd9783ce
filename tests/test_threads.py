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


def test_a_fair_share_leaves_the_fixed_runs_their_threads():
    assert threads.fair_share(2, [0]) == 2  # alone: every CPU
    assert threads.fair_share(2, [0, 0]) == 1  # two self-sizing runs on 2 CPUs: one each
    assert threads.fair_share(8, [0, 0, 2]) == 3  # (8 - 2) // 2
    assert threads.fair_share(2, [0, 1, 1]) == 1  # never below one thread
    assert threads.fair_share(16, [0, 0, 0]) == 5


def _no_thread_settings(monkeypatch):
    for variable in (threads.THREADS_VARIABLE, "OMP_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)


def test_a_self_sizing_run_shares_the_cpus_as_other_runs_come_and_go(monkeypatch, tmp_path):
    import torch

    from dreamlift.running import Registration, live_runs

    _no_thread_settings(monkeypatch)
    before = torch.get_num_threads()
    try:
        with threads.CpuShare(every=0, registry=tmp_path) as cpus:
            assert cpus.fixed is None and cpus.count == 2 and torch.get_num_threads() == 2 and live_runs(tmp_path) == [0]
            with Registration(0, tmp_path):
                assert cpus.update() == 1 and torch.get_num_threads() == 1
            assert cpus.update() == 2 and torch.get_num_threads() == 2
            with Registration(0, tmp_path):
                cpus.every = 60
                assert cpus.update() == 2  # looked at again only after `every` seconds
                assert cpus.update(force=True) == 1
        assert live_runs(tmp_path) == []
    finally:
        torch.set_num_threads(before)


def test_a_run_with_set_threads_keeps_them_and_counts_for_the_others(monkeypatch, tmp_path):
    import torch

    _no_thread_settings(monkeypatch)
    before = torch.get_num_threads()
    try:
        with threads.CpuShare(1, every=0, registry=tmp_path) as fixed, threads.CpuShare(every=0, registry=tmp_path) as sizing:
            assert fixed.fixed == 1 and fixed.update() == 1
            assert sizing.update() == 1  # 2 CPUs less the fixed run's 1
        monkeypatch.setenv(threads.THREADS_VARIABLE, "2")
        with threads.CpuShare(every=0, registry=tmp_path) as from_env, threads.CpuShare(every=0, registry=tmp_path):
            assert from_env.fixed == 2 and from_env.update() == 2
    finally:
        torch.set_num_threads(before)
