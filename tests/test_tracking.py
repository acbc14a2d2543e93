"""MLflow tracking: parallel jobs on one sqlite store lose nothing and all land in the study's experiment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ganopt.tracking import NullTracker, Tracker, TrackingConfig, flatten, start_run

WORKER = """
import sys
from ganopt.tracking import TrackingConfig, start_run
cfg = TrackingConfig(uri=sys.argv[1], artifact_location=sys.argv[2], experiment="race")
with start_run(cfg, f"worker{sys.argv[3]}", params={"worker": sys.argv[3]}) as t:
    for step in range(500):
        t.log_metrics({"loss/G": step * 0.5, "loss/D": -step}, step=step)
"""


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_parallel_jobs_on_a_new_experiment_lose_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, uri, str(tmp_path / "art"), str(i)],
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    errors = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    c = client(uri)
    exp = c.get_experiment_by_name("race")
    runs = c.search_runs([exp.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"worker{i}" for i in range(8)]
    assert all(r.info.status == "FINISHED" for r in runs)
    for run in runs:
        for key in ("loss/G", "loss/D"):
            history = c.get_metric_history(run.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(500))
    default = c.get_experiment_by_name("Default")
    assert default is None or not c.search_runs([default.experiment_id])


def test_failures_are_recorded(tmp_path: Path) -> None:
    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/m.db", artifact_location=str(tmp_path / "a"), experiment="e")
    with pytest.raises(ValueError), start_run(cfg, "crash") as tracker:
        crashed = tracker.run_id
        raise ValueError("boom")
    with start_run(cfg, "diverged") as tracker:
        tracker.log_metrics({"loss": float("nan"), "ok": 1.0}, step=3)
        tracker.outcome = "FAILED"
        diverged = tracker.run_id
    c = client(cfg.uri)
    assert c.get_run(crashed).info.status == "FAILED"
    run = c.get_run(diverged)
    assert run.info.status == "FAILED" and run.data.metrics == {"ok": 1.0}


def test_resumed_job_continues_its_run(tmp_path: Path) -> None:
    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/m.db", artifact_location=str(tmp_path / "a"), experiment="e")
    with start_run(cfg, "job", params={"lr": 0.1}) as tracker:
        tracker.log_metrics({"x": 1.0}, step=0)
        run_id = tracker.run_id
    with start_run(cfg, "job", run_id=run_id) as tracker:
        tracker.log_metrics({"x": 2.0}, step=1)
    c = client(cfg.uri)
    assert [m.value for m in c.get_metric_history(run_id, "x")] == [1.0, 2.0]
    assert len(c.search_runs([c.get_experiment_by_name("e").experiment_id])) == 1


def test_artifacts_and_params(tmp_path: Path) -> None:
    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/m.db", artifact_location=str(tmp_path / "art"), experiment="e")
    (tmp_path / "note.txt").write_text("hi")
    params = {"gan": {"lr": {f"opt{i}": i for i in range(150)}}, "seed": 0}
    with start_run(cfg, "job", params=params) as tracker:
        tracker.log_artifact(tmp_path / "note.txt")
        run_id = tracker.run_id
    run = client(cfg.uri).get_run(run_id)
    assert run.data.params["gan.lr.opt149"] == "149" and len(run.data.params) == 151
    assert list((tmp_path / "art").rglob("note.txt"))


def test_tracking_off_records_nothing(tmp_path: Path) -> None:
    cfg = TrackingConfig(enabled=False, uri=f"sqlite:///{tmp_path}/m.db")
    with start_run(cfg, "job", params={"a": 1}) as tracker:
        tracker.log_metrics({"x": 1.0}, step=0)
    assert isinstance(tracker, NullTracker) and not (tmp_path / "m.db").exists()


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": "1", "a.c": "[1, 2]", "d": "x"}


@pytest.mark.parametrize(("sent_through", "checkpoint"), [(3, -1), (3, 3), (5, 3), (9, 7)])
def test_resume_after_a_kill_duplicates_no_point(tmp_path: Path, sent_through: int, checkpoint: int) -> None:
    """A job logging steps 0..9 is killed when its points are in MLflow through `sent_through` but its
    resume checkpoint holds step `checkpoint` (killed between sending and saving, after a checkpoint,
    after a full buffer was flushed, while a finished run writes its outputs); it resumes into the
    same run and logs again from there: one point per (key, step)."""
    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/m.db", artifact_location=str(tmp_path / "a"), experiment="e")
    keys = ("loss/D", "norm/G/w")
    with start_run(cfg, "job") as tracker:
        run_id = tracker.run_id
        for step in range(sent_through + 1):
            tracker.log_metrics({k: float(step) for k in keys}, step)
    with start_run(cfg, "job", run_id=run_id) as tracker:
        for step in range(checkpoint + 1, 10):
            tracker.log_metrics({k: float(step) for k in keys}, step)
    for key in keys:
        history = client(cfg.uri).get_metric_history(run_id, key)
        assert sorted((m.step, m.value) for m in history) == [(s, float(s)) for s in range(10)]


def test_a_rerun_supersedes_the_earlier_run_of_the_job(tmp_path: Path) -> None:
    from ganopt.report.study_run import record_study
    from ganopt.tracking import SUPERSEDED_BY

    cfg = TrackingConfig(uri=f"sqlite:///{tmp_path}/m.db", artifact_location=str(tmp_path / "a"), experiment="e")
    with start_run(cfg, "train_gan/ring8/adam/seed0") as tracker:
        first = tracker.run_id
    with start_run(cfg, "train_gan/ring8/adam/seed1") as tracker:
        other = tracker.run_id
    parent = record_study(cfg, "s", {})
    killed = Tracker(cfg, "train_gan/ring8/adam/seed0").run_id  # a rerun killed before it finished
    with start_run(cfg, "train_gan/ring8/adam/seed0") as tracker:
        current = tracker.run_id
    assert record_study(cfg, "s", {}) == parent
    c = client(cfg.uri)
    for old, successor in ((first, killed), (killed, current)):
        run = c.get_run(old)
        assert run.data.tags[SUPERSEDED_BY] == successor and run.data.tags["mlflow.parentRunId"] == successor
        assert run.info.run_name == "train_gan/ring8/adam/seed0 (superseded)"
    assert c.get_run(first).info.status == "FINISHED" and c.get_run(killed).info.status == "KILLED"
    runs = c.search_runs([c.get_experiment_by_name("e").experiment_id])
    under_study = {r.info.run_id for r in runs if r.data.tags.get("mlflow.parentRunId") == parent}
    assert under_study == {current, other}


def test_a_moved_study_opens_its_artifacts_after_relocate_study(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    from ganopt.cli import main

    def study_cfg(root: Path) -> TrackingConfig:
        return TrackingConfig(uri=f"sqlite:///{root}/results/mlflow.db",
                              artifact_location=str(root / "results" / "mlartifacts"), experiment="e")

    old, new = tmp_path / "old", tmp_path / "elsewhere" / "copy"
    (tmp_path / "note.txt").write_text("the study's artifact")
    with start_run(study_cfg(old), "job") as tracker:
        tracker.log_artifact(tmp_path / "note.txt", "notes")
        run_id = tracker.run_id
    shutil.copytree(old / "results", new / "results")
    shutil.rmtree(old)
    assert not client(study_cfg(new).uri).list_artifacts(run_id, "notes")  # absolute paths into the old place
    assert main(["relocate-study", str(new / "results")]) == 0
    assert "elsewhere/copy/results/mlartifacts" in capsys.readouterr().out
    c = client(study_cfg(new).uri)
    assert [a.path for a in c.list_artifacts(run_id, "notes")] == ["notes/note.txt"]
    assert Path(c.download_artifacts(run_id, "notes/note.txt", str(tmp_path))).read_text() == "the study's artifact"
    with start_run(study_cfg(new), "later job") as tracker:  # runs of the moved study log into its folder
        tracker.log_artifact(tmp_path / "note.txt")
    assert len(list((new / "results" / "mlartifacts").rglob("note.txt"))) == 2 and not old.exists()
    assert main(["relocate-study", str(new / "results")]) == 0
    assert "already in place" in capsys.readouterr().out
    assert main(["relocate-study", str(tmp_path / "nowhere")]) == 2
    assert "no MLflow store" in capsys.readouterr().err
