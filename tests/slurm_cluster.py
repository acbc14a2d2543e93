"""A throwaway single-node SLURM cluster (munged, slurmctld, slurmd on this host) for tests.

Everything lives in one temporary directory (config, keys, sockets, state, logs) and uses free
ports, so it never touches a system cluster; `stop()` ends exactly the daemons it started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo", "srun")


def unavailable_reason() -> str | None:
    """Why a local cluster cannot run here (None when it can)."""
    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name) is None]
    if missing:
        return (f"SLURM/munge not installed ({', '.join(missing)} missing); "
                "install with: apt-get install -y slurm-wlm munge")
    if os.geteuid() != 0:
        return "slurmd must run as root to launch jobs, and this test runs as a regular user"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _node_line() -> str:
    """This host as slurmd sees it (NodeName=<hostname> CPUs=... RealMemory=...)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def _slurm_conf(root: Path, ctld_port: int, slurmd_port: int) -> str:
    # SlurmctldHost must be the real hostname (slurmd looks itself up by it); there is no
    # accounting database, so job states come from slurmctld (squeue) and stay MinJobAge seconds.
    return "\n".join([
        "ClusterName=ganopttest",
        f"SlurmctldHost={socket.gethostname()}",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/socket",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/slurmctld.pid",
        f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd.log",
        "ProctrackType=proctrack/pgid",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SchedulerType=sched/backfill",
        "MpiDefault=none",
        "ReturnToService=2",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MinJobAge=300",
        f"{_node_line()} State=UNKNOWN",
        "PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


class LocalSlurm:
    """Start with `with LocalSlurm() as cluster:`; run clients with `env=cluster.env`."""

    def __init__(self) -> None:
        # A short path: munge's unix socket path must stay under ~100 characters.
        self.root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf),
                    "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.procs: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> LocalSlurm:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        for sub in ("munge", "state", "spool", "log", "bin"):
            (self.root / sub).mkdir(mode=0o700)
        self._srun_shim()
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.conf.write_text(_slurm_conf(self.root, _free_port(), _free_port()))
        m = self.root / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={m}/socket",
                               f"--key-file={key}", f"--pid-file={m}/munged.pid",
                               f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed"])
        self._wait(lambda: (m / "socket").exists(), timeout, "munged did not create its socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait(self._node_idle, timeout, "the node did not become idle")

    def _srun_shim(self) -> None:
        """srun that finds this cluster's config: the SLURM jobstep plugin drops SLURM_* variables
        (SLURM_CONF included) before its nested srun, which then looks only in /etc/slurm."""
        shim = self.root / "bin" / "srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun")} "$@"\n')
        shim.chmod(0o700)

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()

    def _node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True,
                             text=True, env=self.env)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while starting:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} within {timeout:.0f} s:\n{self.logs()}")

    def logs(self) -> str:
        """Tail of every daemon log, for failure messages."""
        parts = []
        for path in sorted((self.root / "log").glob("*")) + sorted((self.root / "munge").glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel this cluster's jobs, then end the daemons this object started (by pid)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--user", str(os.geteuid())], env=self.env,
                           capture_output=True, timeout=30)
            self._wait_jobs_gone(20.0)
        for name in reversed(DAEMONS):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_jobs_gone(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = subprocess.run(["squeue", "--noheader", "--format=%i", "--states=RUNNING,PENDING,COMPLETING"],
                                 capture_output=True, text=True, env=self.env)
            if out.returncode != 0 or not out.stdout.strip():
                return
            time.sleep(0.5)
