"""Simple GAN (study.md B.3): MLP generator and discriminator on a 1-D Gaussian mixture with the
talk's payoff Psi = E log D(x) + E log(1 - D(G(z))) (G minimizes, D maximizes). Natural gradient
uses the generator's samples G(z_i) and the discriminator's probabilities D(x) on real + fake
points as the hidden outputs; compared with GDA and Adam.

Lyapunov proxy on fixed evaluation sets: V = V_G + V_D with V_G = 1/2 mean (sorted G(z) - the
mixture's quantiles)^2 (the 1-D monotone-transport target F*) and V_D = 1/2 mean (D(x) - 1/2)^2
over fixed data points (D* = 1/2 at the equilibrium). Mixture metrics: 1-D W1 and mode coverage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ganopt.config import DEVICE, schema_section
from ganopt.errors import ConfigError
from ganopt.natgrad.games import METHODS, check_methods, numerical_rank, singular_values
from ganopt.natgrad.jacobian import ModelJacobian, add_to_params
from ganopt.natgrad.players import mlp
from ganopt.natgrad.record import plot_v
from ganopt.natgrad.solvers import SolverConfig, cap_step, natural_direction
from ganopt.runtime import select_device

GAN_METHODS = (*METHODS, "adam")


@schema_section("natgrad.schema.yaml#/$defs/gan", device=DEVICE)
@dataclass(frozen=True)
class GanConfig:
    """Config of the simple-GAN experiment (natgrad.gan)."""

    methods: tuple[str, ...]
    lr: dict[str, float]
    centers: tuple[float, ...]
    std: float
    hidden: tuple[int, ...]
    batch: int
    steps: int
    eval_every: int
    n_eval: int
    seeds: tuple[int, ...]
    d_output: str  # D's hidden output for NG: its logit u or its probability sigmoid(u)
    solver: SolverConfig
    device: str

    def __post_init__(self) -> None:
        check_methods(self.methods, self.lr, GAN_METHODS)
        if not self.centers or self.std <= 0:
            raise ConfigError("natgrad.gan needs at least one mixture center and std > 0")
        if self.d_output not in ("logit", "prob"):
            raise ConfigError(f"natgrad.gan.d_output '{self.d_output}' is not one of logit, prob")


class Mixture:
    """Equal-weight 1-D Gaussian mixture: samples and exact quantiles."""

    def __init__(self, centers: tuple[float, ...], std: float, device: torch.device) -> None:
        self.centers = torch.tensor(centers, dtype=torch.float32, device=device)
        self.std = std

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.centers), (n,), generator=gen, device=gen.device)
        return (self.centers[idx] + self.std * torch.randn(n, generator=gen, device=gen.device)).unsqueeze(-1)

    def quantiles(self, n: int) -> torch.Tensor:
        """The mixture's quantiles at (i + 1/2)/n, by bisection on the CDF."""
        p = (torch.arange(n, dtype=torch.float64, device=self.centers.device) + 0.5) / n
        c = self.centers.double()
        lo, hi = torch.full_like(p, float(c.min()) - 10 * self.std), torch.full_like(p, float(c.max()) + 10 * self.std)
        for _ in range(60):
            mid = (lo + hi) / 2
            below = torch.special.ndtr((mid.unsqueeze(-1) - c) / self.std).mean(-1) < p
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return ((lo + hi) / 2).float()


def mixture_metrics(fake: torch.Tensor, quantiles: torch.Tensor, data: Mixture) -> dict[str, float]:
    """W1 to the mixture (sorted samples vs quantiles) and the fraction of modes holding at least
    half their share of samples within 3 std."""
    x = fake.reshape(-1).sort().values
    near = (x.unsqueeze(-1) - data.centers).abs() < 3 * data.std
    share = near.float().mean(0) * len(data.centers)
    return {"w1": float((x - quantiles).abs().mean()), "modes": float((share >= 0.5).float().mean())}


def _g_output_grad(D: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """Per-sample output gradient of G's loss: d log(1 - D(x))/dx at the fake points."""
    x = fake.detach().requires_grad_()
    (gx,) = torch.autograd.grad(torch.log1p(-torch.sigmoid(D(x))).sum(), x)
    return gx.reshape(-1)


class Run:
    """One training run of one method and seed: `step()` advances it, `evaluate()` measures it."""

    def __init__(self, cfg: GanConfig, method: str, seed: int, device: torch.device) -> None:
        self.cfg, self.method = cfg, method
        self.kind, self.scheme = METHODS.get(method, (method, "simultaneous"))
        torch.manual_seed(seed)
        self.G = mlp([1, *cfg.hidden, 1]).to(device)
        self.D = mlp([1, *cfg.hidden, 1]).to(device)
        self.data = Mixture(cfg.centers, cfg.std, device)
        self.gen = torch.Generator(device=device).manual_seed(seed + 1)
        eval_gen = torch.Generator(device=device).manual_seed(10_000 + seed)
        self.z_eval = torch.randn(cfg.n_eval, 1, generator=eval_gen, device=device)
        self.x_eval = self.data.sample(cfg.n_eval, eval_gen)
        self.q_eval = self.data.quantiles(cfg.n_eval)
        self.opts = {m: torch.optim.Adam(m.parameters(), lr=cfg.lr[method], betas=(0.5, 0.999))
                     for m in (self.G, self.D)} if method == "adam" else {}
        self.solver = "none"

    def _direction_d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Descent direction of D's loss -Psi (flat): natural or plain gradient."""
        if self.kind == "ng":
            with torch.no_grad():
                d_real, d_fake = torch.sigmoid(self.D(real)), torch.sigmoid(self.D(fake))
            if self.cfg.d_output == "prob":  # n dPsi/dD per point, D = sigmoid(u)
                g, head = torch.cat([1 / d_real, -1 / (1 - d_fake)]).reshape(-1), torch.sigmoid
            else:                            # n dPsi/du per point
                g, head = torch.cat([1 - d_real, -d_fake]).reshape(-1), None
            d, info = natural_direction(ModelJacobian(self.D, torch.cat([real, fake]), head), g, self.cfg.solver)
            self.solver = info.solver
            return -d
        psi = torch.nn.functional.logsigmoid(self.D(real)).mean() + torch.log1p(-torch.sigmoid(self.D(fake))).mean()
        return -torch.cat([g.reshape(-1) for g in torch.autograd.grad(psi, list(self.D.parameters()))])

    def _direction_g(self, z: torch.Tensor) -> torch.Tensor:
        """Descent direction of G's loss E log(1 - D(G(z))) (flat): natural or plain gradient."""
        if self.kind == "ng":
            with torch.no_grad():
                fake = self.G(z)
            d, _ = natural_direction(ModelJacobian(self.G, z), _g_output_grad(self.D, fake), self.cfg.solver)
            return d
        loss = torch.log1p(-torch.sigmoid(self.D(self.G(z)))).mean()
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(self.G.parameters()))])

    def _apply(self, model: nn.Module, d: torch.Tensor) -> None:
        """theta <- theta - lr d (NG: capped to the trust region), or an Adam step on gradient d."""
        if self.kind == "adam":
            offset = 0
            for p in model.parameters():
                p.grad = d[offset:offset + p.numel()].view_as(p).clone()
                offset += p.numel()
            self.opts[model].step()
            return
        cap = self.cfg.solver.step_cap if self.kind == "ng" else None
        add_to_params(model, cap_step(-self.cfg.lr[self.method] * d, cap))

    def step(self) -> None:
        """One update of both players on a fresh batch; D first when alternating."""
        z = torch.randn(self.cfg.batch, 1, generator=self.gen, device=self.gen.device)
        real = self.data.sample(self.cfg.batch, self.gen)
        with torch.no_grad():
            fake = self.G(z)
        d_d = self._direction_d(real, fake)
        if self.scheme == "alternating":
            self._apply(self.D, d_d)
            self._apply(self.G, self._direction_g(z))
        else:
            d_g = self._direction_g(z)
            self._apply(self.D, d_d)
            self._apply(self.G, d_g)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Lyapunov proxy, mixture metrics, D on real/fake, sigma_min of both Jacobians (eval sets)."""
        fake = self.G(self.z_eval)
        d_real, d_fake = torch.sigmoid(self.D(self.x_eval)), torch.sigmoid(self.D(fake))
        v_g = 0.5 * float(((fake.reshape(-1).sort().values - self.q_eval) ** 2).mean())
        v_d = 0.5 * float(((d_real - 0.5) ** 2).mean())
        n = self.cfg.batch
        with torch.enable_grad():
            sv_g = singular_values(ModelJacobian(self.G, self.z_eval[:n]))
            sv_d = singular_values(ModelJacobian(self.D, torch.cat([self.x_eval[:n], fake[:n]]), torch.sigmoid))
        return {"V": v_g + v_d, "V_G": v_g, "V_D": v_d, **mixture_metrics(fake, self.q_eval, self.data),
                "D_real": float(d_real.mean()), "D_fake": float(d_fake.mean()),
                "sigma_G": float(sv_g[-1]), "rank_G": numerical_rank(sv_g),
                "sigma_D": float(sv_d[-1]), "rank_D": numerical_rank(sv_d)}


def run_method(cfg: GanConfig, method: str) -> tuple[pd.DataFrame, Run]:
    """Every seed of one method: one row per evaluation, and the first seed's final run."""
    device = select_device(cfg.device)
    rows, first = [], None
    for seed in cfg.seeds:
        run = Run(cfg, method, seed, device)
        first = first or run
        for t in range(cfg.steps + 1):
            if t % cfg.eval_every == 0 or t == cfg.steps:
                rows.append({"method": method, "solver": run.solver, "init": seed, "step": t, **run.evaluate()})
            if t < cfg.steps:
                run.step()
    return pd.DataFrame(rows), first


def plot_gan(frames: dict[str, pd.DataFrame], path: Path) -> None:
    """W1 to the mixture and D's mean output on real and fake points over training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganopt.io import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for i, (method, frame) in enumerate(frames.items()):
        for j, (_, run) in enumerate(frame.groupby("init")):
            axes[0].semilogy(run["step"], run["w1"], color=f"C{i}", label=method if j == 0 else None)
            axes[1].plot(run["step"], run["D_real"], color=f"C{i}", label=f"{method} real" if j == 0 else None)
            axes[1].plot(run["step"], run["D_fake"], color=f"C{i}", ls="--", label=f"{method} fake" if j == 0 else None)
    axes[0].set_ylabel("W1 to the mixture")
    axes[1].axhline(0.5, color="grey", lw=0.8)
    axes[1].set_ylabel("mean D(x)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def plot_samples(runs: dict[str, Run], path: Path) -> None:
    """Histogram of each method's final samples (first seed) over the data density."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganopt.io import save_figure

    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 2.8), squeeze=False, sharey=True)
    for ax, (method, run) in zip(axes[0], runs.items()):
        with torch.no_grad():
            fake = run.G(run.z_eval).reshape(-1).cpu()
        ax.hist(run.x_eval.reshape(-1).cpu(), bins=60, density=True, alpha=0.4, color="grey", label="data")
        ax.hist(fake, bins=60, density=True, alpha=0.6, color="C0", label="G")
        ax.set_title(method)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def run_gan(cfg: GanConfig, out: Path, tracker) -> dict:
    """Every method: CSV per method, figures, MLflow curves; returns the summary."""
    from ganopt.natgrad.record import write_method

    frames, last_runs = {}, {}
    for method in cfg.methods:
        frames[method], last_runs[method] = run_method(cfg, method)
        write_method(out, method, frames[method])
        for _, row in frames[method].groupby("step").median(numeric_only=True).iterrows():
            tracker.log_metrics({f"{k}/{method}": row[k] for k in ("V", "w1", "modes", "D_real", "D_fake")},
                                step=int(row.name))
        print(f"gan {method}: done", flush=True)
    plot_v({m: f.assign(all=0) for m, f in frames.items()}, "all", out / "V.png", "Simple GAN: Lyapunov proxy")
    plot_gan(frames, out / "metrics.png")
    plot_samples(last_runs, out / "samples.png")
    summary = {}
    for method, frame in frames.items():
        last = frame[frame["step"] == frame["step"].max()]
        first = frame[frame["step"] == 0]
        summary[method] = {"V_start_median": float(first["V"].median()), "V_end_median": float(last["V"].median()),
                           "V_min_median": float(frame.groupby("init")["V"].min().median()),
                           "w1_end_median": float(last["w1"].median()), "modes_end_mean": float(last["modes"].mean()),
                           "D_real_end": float(last["D_real"].median()), "D_fake_end": float(last["D_fake"].median()),
                           "solver": str(last["solver"].iloc[0]), "runs": int(last.shape[0])}
    return summary
