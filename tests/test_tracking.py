"""Run tracking: jobs record runs in journals without MLflow; syncing writes them into the store, once,
losing nothing, duplicating nothing, whatever order of kills and syncs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ganopt.mlflow_sync import SUPERSEDED_BY, mlflow_run_id, sync_journals
from ganopt.tracking import NullTracker, Tracker, TrackingConfig, flatten, read_events, start_run

WORKER = """
import sys
from ganopt.jobs import job_run
tracking = {"enabled": True, "uri": sys.argv[1], "artifact_location": sys.argv[2], "journal": sys.argv[3],
            "experiment": "race", "sync": sys.argv[5]}
with job_run({"worker": sys.argv[4], "tracking": tracking}, f"worker{sys.argv[4]}") as t:
    for step in range(500):
        t.log_metrics({"loss/G": step * 0.5, "loss/D": -step}, step=step)
        if step % 100 == 99:
            t.flush()
assert "mlflow" not in sys.modules or sys.argv[5] == "live", "a job of a study-synced study imported mlflow"
"""


def config(tmp_path: Path, **changes) -> TrackingConfig:
    return TrackingConfig(**{"uri": f"sqlite:///{tmp_path}/m.db", "artifact_location": str(tmp_path / "a"),
                             "journal": str(tmp_path / "journal"), "experiment": "e", **changes})


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def run(cfg: TrackingConfig, key: str):
    return client(cfg.uri).get_run(mlflow_run_id(cfg, key))


@pytest.mark.parametrize("sync", ["study", "live"])
def test_parallel_jobs_on_a_new_experiment_lose_nothing(tmp_path: Path, sync: str) -> None:
    """Eight jobs at once: journals then one sync (study), or each job writing the store itself (live)."""
    cfg = config(tmp_path, experiment="race", sync=sync)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, cfg.uri, cfg.artifact_location, cfg.journal, str(i), sync],
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    errors = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert (sync == "live") == (tmp_path / "m.db").exists()
    assert sync_journals(cfg) == (8 if sync == "study" else 0)
    c = client(cfg.uri)
    exp = c.get_experiment_by_name("race")
    runs = c.search_runs([exp.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"worker{i}" for i in range(8)]
    assert all(r.info.status == "FINISHED" for r in runs)
    for run_ in runs:
        for key in ("loss/G", "loss/D"):
            history = c.get_metric_history(run_.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(500))
    default = c.get_experiment_by_name("Default")
    assert default is None or not c.search_runs([default.experiment_id])


def test_failures_are_recorded(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with pytest.raises(ValueError), start_run(cfg, "crash") as tracker:
        crashed = tracker.run_id
        raise ValueError("boom")
    with start_run(cfg, "diverged") as tracker:
        tracker.log_metrics({"loss": float("nan"), "ok": 1.0}, step=3)
        tracker.outcome = "FAILED"
        diverged = tracker.run_id
    assert sync_journals(cfg) == 2
    assert run(cfg, crashed).info.status == "FAILED"
    assert run(cfg, diverged).info.status == "FAILED" and run(cfg, diverged).data.metrics == {"ok": 1.0}


def test_resumed_job_continues_its_run(tmp_path: Path) -> None:
    """Synced between the two parts or not, one run holds both."""
    for between in (True, False):
        cfg = config(tmp_path / str(between))
        with start_run(cfg, "job", params={"lr": 0.1}) as tracker:
            tracker.log_metrics({"x": 1.0}, step=0)
            key = tracker.run_id
        if between:
            assert sync_journals(cfg) == 1 and run(cfg, key).info.status == "FINISHED"
        with start_run(cfg, "job", run_id=key) as tracker:
            tracker.log_metrics({"x": 2.0}, step=1)
        assert sync_journals(cfg) == 1 and sync_journals(cfg) == 0
        c = client(cfg.uri)
        assert [m.value for m in c.get_metric_history(mlflow_run_id(cfg, key), "x")] == [1.0, 2.0]
        assert len(c.search_runs([c.get_experiment_by_name("e").experiment_id])) == 1


def test_artifacts_and_params(tmp_path: Path) -> None:
    """An artifact is what the job wrote, even if the file changes before the sync."""
    cfg = config(tmp_path, artifact_location=str(tmp_path / "art"))
    (tmp_path / "note.txt").write_text("hi")
    params = {"gan": {"lr": {f"opt{i}": i for i in range(150)}}, "seed": 0}
    with start_run(cfg, "job", params=params) as tracker:
        tracker.log_artifact(tmp_path / "note.txt")
        tracker.log_artifact(tmp_path / "note.txt", "again")
        key = tracker.run_id
    (tmp_path / "note.txt").write_text("rewritten by a later job")
    sync_journals(cfg)
    found = run(cfg, key)
    assert found.data.params["gan.lr.opt149"] == "149" and len(found.data.params) == 151
    assert [p.read_text() for p in sorted((tmp_path / "art").rglob("note.txt"))] == ["hi", "hi"]
    assert {p.relative_to(tmp_path / "art").parts[2:] for p in (tmp_path / "art").rglob("note.txt")} == {
        ("note.txt",), ("again", "note.txt")}


def test_tracking_off_records_nothing(tmp_path: Path) -> None:
    cfg = config(tmp_path, enabled=False)
    with start_run(cfg, "job", params={"a": 1}) as tracker:
        tracker.log_metrics({"x": 1.0}, step=0)
    assert isinstance(tracker, NullTracker) and sync_journals(cfg) == 0
    assert not (tmp_path / "m.db").exists() and not (tmp_path / "journal").exists()


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": "1", "a.c": "[1, 2]", "d": "x"}


@pytest.mark.parametrize(("sent_through", "checkpoint"), [(3, -1), (3, 3), (5, 3), (9, 7)])
@pytest.mark.parametrize("synced_before_resume", [False, True])
def test_resume_after_a_kill_duplicates_no_point(tmp_path: Path, sent_through: int, checkpoint: int,
                                                 synced_before_resume: bool) -> None:
    """A job logging steps 0..9 is killed when its journal holds points through `sent_through` but its
    resume checkpoint holds step `checkpoint` (killed between sending and saving, after a checkpoint,
    after a full buffer was flushed, while a finished run writes its outputs), with the partial run
    synced (the workflow's onerror) or not; it resumes into the same run: one point per (key, step)."""
    cfg = config(tmp_path)
    keys = ("loss/D", "norm/G/w")
    tracker = Tracker(cfg, "job")  # killed: never finished
    for step in range(sent_through + 1):
        tracker.log_metrics({k: float(step) for k in keys}, step)
    tracker.flush()
    with open(Path(cfg.journal) / tracker.run_id / "events.jsonl", "a") as handle:
        handle.write('{"op":"metrics","metrics":[["loss/D",')  # the kill cut a line short
    if synced_before_resume:
        sync_journals(cfg)
        assert run(cfg, tracker.run_id).info.status == "RUNNING"
    with start_run(cfg, "job", run_id=tracker.run_id) as resumed:
        for step in range(checkpoint + 1, 10):
            resumed.log_metrics({k: float(step) for k in keys}, step)
    sync_journals(cfg)
    assert run(cfg, tracker.run_id).info.status == "FINISHED"
    for key in keys:
        history = client(cfg.uri).get_metric_history(mlflow_run_id(cfg, tracker.run_id), key)
        assert sorted((m.step, m.value) for m in history) == [(s, float(s)) for s in range(10)]


def test_a_sync_killed_midway_is_finished_by_the_next(tmp_path: Path) -> None:
    """Killed after creating the run and storing some points but before recording what it stored."""
    cfg = config(tmp_path)
    with start_run(cfg, "job", params={"lr": 0.1}) as tracker:
        for step in range(5):
            tracker.log_metrics({"x": float(step)}, step)
            tracker.flush()
    sync_journals(cfg)
    (Path(cfg.journal) / tracker.run_id / "synced.json").unlink()
    assert sync_journals(cfg) == 1
    c = client(cfg.uri)
    assert len(c.search_runs([c.get_experiment_by_name("e").experiment_id])) == 1
    assert sorted(m.step for m in c.get_metric_history(mlflow_run_id(cfg, tracker.run_id), "x")) == list(range(5))


def test_a_rerun_supersedes_the_earlier_run_of_the_job(tmp_path: Path) -> None:
    from ganopt.report.study_run import record_study

    cfg = config(tmp_path)
    with start_run(cfg, "train_gan/ring8/adam/seed0") as tracker:
        first = tracker.run_id
    with start_run(cfg, "train_gan/ring8/adam/seed1") as tracker:
        other = tracker.run_id
    parent = record_study(cfg, "s", {})
    killed = Tracker(cfg, "train_gan/ring8/adam/seed0").run_id  # a rerun killed before it finished
    with start_run(cfg, "train_gan/ring8/adam/seed0") as tracker:
        current = tracker.run_id
    with start_run(cfg, "compute_fid/ring8/adam/seed0", tags={"mlflow.parentRunId": current}) as tracker:
        child = tracker.run_id
    assert record_study(cfg, "s", {}) == parent
    ids = {key: mlflow_run_id(cfg, key) for key in (first, other, killed, current, child)}
    c = client(cfg.uri)
    for old, successor in ((first, killed), (killed, current)):
        found = c.get_run(ids[old])
        assert found.data.tags[SUPERSEDED_BY] == ids[successor] and found.data.tags["mlflow.parentRunId"] == ids[successor]
        assert found.info.run_name == "train_gan/ring8/adam/seed0 (superseded)"
    assert c.get_run(ids[first]).info.status == "FINISHED" and c.get_run(ids[killed]).info.status == "KILLED"
    assert c.get_run(ids[child]).data.tags["mlflow.parentRunId"] == ids[current]
    runs = c.search_runs([c.get_experiment_by_name("e").experiment_id])
    under_study = {r.info.run_id for r in runs if r.data.tags.get("mlflow.parentRunId") == parent}
    assert under_study == {ids[current], ids[other]}


def test_jobs_import_no_mlflow_and_a_synced_study_syncs_without_it(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    code = f"""
import sys
from ganopt.tracking import TrackingConfig, start_run
from ganopt.mlflow_sync import sync_journals
cfg = TrackingConfig(uri={cfg.uri!r}, artifact_location={cfg.artifact_location!r}, journal={cfg.journal!r}, experiment="e")
with start_run(cfg, "job", params={{"a": 1}}) as t:
    t.log_metrics({{"x": 1.0}}, step=0)
assert "mlflow" not in sys.modules
print(sync_journals(cfg), "mlflow" in sys.modules, sync_journals(cfg))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "True", "0"]
    out = subprocess.run([sys.executable, "-c", "import sys; from ganopt.tracking import TrackingConfig;"
                          "from ganopt.mlflow_sync import sync_journals;"
                          f"cfg = TrackingConfig(uri={cfg.uri!r}, artifact_location='a', journal={cfg.journal!r}, "
                          "experiment='e'); print(sync_journals(cfg), 'mlflow' in sys.modules, 'torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "False", "False"]


def test_sync_tracking_cli(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from ganopt.cli import main

    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path)
    with start_run(cfg, "job") as tracker:
        tracker.log_metrics({"x": 1.0}, step=0)
    tracking = {"tracking": {k: getattr(cfg, k) for k in ("uri", "artifact_location", "journal", "experiment")}}
    assert main(["sync-tracking", "--config", json.dumps(tracking)]) == 0
    assert "1 run(s) written" in capsys.readouterr().out and run(cfg, tracker.run_id).info.status == "FINISHED"
    (Path(cfg.journal) / tracker.run_id / "synced.json").write_text("{")
    with open(Path(cfg.journal) / tracker.run_id / "events.jsonl", "a") as handle:
        handle.write('{"op":"end","status":"FINISHED","time":0}\n')
    assert main(["sync-tracking", "--config", json.dumps(tracking)]) == 2
    assert "synced.json" in capsys.readouterr().err


def test_a_moved_study_opens_its_artifacts_after_relocate_study(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    from ganopt.cli import main

    def study_cfg(root: Path) -> TrackingConfig:
        return TrackingConfig(uri=f"sqlite:///{root}/results/mlflow.db", journal=str(root / "results" / "tracking"),
                              artifact_location=str(root / "results" / "mlartifacts"), experiment="e")

    old, new = tmp_path / "old", tmp_path / "elsewhere" / "copy"
    (tmp_path / "note.txt").write_text("the study's artifact")
    with start_run(study_cfg(old), "job") as tracker:
        tracker.log_artifact(tmp_path / "note.txt", "notes")
    sync_journals(study_cfg(old))
    run_id = mlflow_run_id(study_cfg(old), tracker.run_id)
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
    sync_journals(study_cfg(new))
    assert len(list((new / "results" / "mlartifacts").rglob("note.txt"))) == 2 and not old.exists()
    assert main(["relocate-study", str(new / "results")]) == 0
    assert "already in place" in capsys.readouterr().out
    assert main(["relocate-study", str(tmp_path / "nowhere")]) == 2
    assert "no MLflow store" in capsys.readouterr().err


def test_sqlite_bulk_insert_stores_what_log_batch_stores(tmp_path: Path) -> None:
    """The sqlite fast path and MLflow's log_batch give the same history and latest values, across two
    batches (a resumed run) and with ties in step that MLflow breaks by timestamp, then value."""
    from mlflow.entities import Metric

    from ganopt.mlflow_sync import client as store_client
    from ganopt.mlflow_sync import ensure_experiment, insert_sqlite

    cfg = config(tmp_path)
    experiment = ensure_experiment(cfg)
    store = store_client(cfg)
    batches = [[["a", 1.0, 100, 0], ["a", 2.0, 100, 1], ["b", 5.0, 100, 3], ["b", 4.0, 101, 3]],
               [["a", 0.5, 90, 1], ["a", 3.0, 90, 2], ["b", 9.0, 100, 3], ["c", -1.0, 50, 7]]]
    fast, slow = (store.create_run(experiment).info.run_id for _ in range(2))
    for points in batches:
        assert insert_sqlite(cfg, fast, points)
        store.log_batch(slow, metrics=[Metric(*p) for p in points])
    for key in "abc":
        history = [sorted((m.step, m.timestamp, m.value) for m in store.get_metric_history(r, key)) for r in (fast, slow)]
        assert history[0] == history[1] and history[0]
    assert store.get_run(fast).data.metrics == store.get_run(slow).data.metrics == {"a": 3.0, "b": 4.0, "c": -1.0}
    assert not insert_sqlite(config(tmp_path, uri="http://127.0.0.1:1"), fast, batches[0])  # not a sqlite store


# --- a store that cannot be used: it costs the sync (one line), never the runs or the report ----------

GARBAGE = b"not an sqlite database\n" * 200


def test_garbage_store_is_one_line_for_sync_and_relocate(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from ganopt.cli import main

    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path)
    Path(cfg.uri.removeprefix("sqlite:///")).write_bytes(GARBAGE)
    with start_run(cfg, "job") as tracker:
        tracker.log_metrics({"x": 1.0}, step=0)
    tracking = {"tracking": {k: getattr(cfg, k) for k in ("uri", "artifact_location", "journal", "experiment")}}
    assert main(["sync-tracking", "--config", json.dumps(tracking)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the MLflow store '{tmp_path}/m.db' cannot be used (DatabaseError: file is not a " \
        "database)" in err and "`ganopt sync-tracking` rebuilds it" in err, err
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "mlflow.db").write_bytes(GARBAGE)
    assert main(["relocate-study", "results"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the MLflow store" in err and "mlflow.db' cannot be used (sqlite: file is not a " \
        "database)" in err, err
    journal = Path(cfg.journal) / tracker.run_id  # the run waits in its journal for a store that works
    assert [e["op"] for e in read_events(journal)] == ["start", "metrics", "end"] and not (journal / "synced.json").exists()


def test_report_job_survives_a_garbage_store(in_tmp: Path, capsys: pytest.CaptureFixture) -> None:
    """report.md and claims.html come from the tables alone; the sync's failure is one warning line
    and the job succeeds (a failed job would have Snakemake delete the report)."""
    import json

    from ganopt.cli import main

    (in_tmp / "results").mkdir()
    (in_tmp / "results" / "mlflow.db").write_bytes(GARBAGE)
    job = json.dumps({"plan": {"study": "t"}, "tracking": {
        "enabled": True, "uri": "sqlite:///results/mlflow.db", "journal": "results/tracking",
        "artifact_location": "results/mlartifacts", "experiment": "t"}})
    assert main(["aggregate", "--config", job, "--out", "results/tables"]) == 0
    capsys.readouterr()
    assert main(["study-report", "--config", job, "--out", "results"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganopt study-report: warning: not synced: the MLflow store "
                                                   "'results/mlflow.db' cannot be used"), err
    assert "claims" in (in_tmp / "results" / "report.md").read_text()
    assert (in_tmp / "results" / "claims.html").stat().st_size > 0
