"""Simple GAN inside the theorem's assumptions (study.md B.1, B.3; issue 13 item 6): natural
gradient vs GDA and Adam on a finite-support GAN, judged by the Lyapunov distance V.

- Data: K support points x_k on a circle (K = 8: the ring8 modes) with weights p_data,
  p_data(x_k) proportional to exp(data_skew * k / (K - 1)).
- Generator player F_theta = p_theta = softmax(G_theta(c)): a ganopt.gan.nets MLP generator maps one
  fixed latent c to K logits, so its output is a distribution over the support.
- Discriminator player G_phi: a ganopt.gan.nets MLP discriminator on the K support points, its
  logits u (d_output: logit) or probabilities D = sigmoid(u) (d_output: prob, the talk's D).
- Payoff (G minimizes, D maximizes): the talk's L_x in expectation over p_data, plus mu/2 ||p - p_data||^2:
  Psi = sum_k p_data_k log D_k + sum_k p_k log(1 - D_k) + mu/2 ||p - p_data||^2, with
  log D and log(1 - D) taken from ganopt.gan.losses. Without mu it is linear in p (convex, not
  strictly) and strictly concave in D (and in u); mu > 0 makes it strictly convex-concave, as the
  theorem asks, and keeps the equilibrium p* = p_data, D* = 1/2 (u* = 0).
- Full rank: p lives on the simplex, so J_F has rank <= K - 1 (its outputs sum to 1); the
  assumption is sigma_{K-1}(J_F) > 0 and sigma_K(J_D) > 0 along the trajectory (P >> K).
- V = 1/(2K) ||p - p_data||^2 + 1/(2K) ||G_phi - G*||^2, the talk's finite-sum Lyapunov function.
- Setting from pilots (seeds 100-101): d_output logit, since sigmoid saturation shrank sigma_K(J_D)
  to 0.006-0.03 (logits: ~0.5); init_scale 1, since at 1.5-3 the generator's p reaches the
  simplex's boundary (sigma_{K-1}(J_F) ~ 0, the assumption fails and V rises); mu = 1, K = 8.

Methods: ng / ng_alt (l2 natural gradient, ganopt.natgrad.solvers; the generator's output
gradient is projected onto the simplex; ng caps the joint (D, G) parameter step at solver.step_cap,
a time change that keeps the flow's path, where per-player caps bend it and pilots then hit the
simplex's boundary), gda / gda_alt (the registry's sgda) and adam (the
registry's adam; hyperparameters from `hparams`), the baselines stepped by ganopt.optim.Game as
ganopt.gan.session steps its GAN. Gradients are exact (the support is finite): no sampling noise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ganopt.config import DEVICE, schema_section
from ganopt.errors import ConfigError
from ganopt.gan import losses
from ganopt.gan.netconfig import NetConfig
from ganopt.gan.nets import build_pair
from ganopt.gan.session import optimizer_kwargs
from ganopt.natgrad.games import METHODS, check_methods, singular_values
from ganopt.natgrad.jacobian import ModelJacobian, add_to_params
from ganopt.natgrad.monotone import rises
from ganopt.natgrad.record import log_curves, plot_v, write_method
from ganopt.natgrad.solvers import SolverConfig, cap_step, natural_direction
from ganopt.optim import Game, build_optimizer
from ganopt.runtime import seed_everything, select_device

GAN_METHODS = (*METHODS, "adam")
BASELINES = {"gda": "sgda", "gda_alt": "sgda", "adam": "adam"}   # method -> ganopt.optim registry name
D_STAR = {"logit": 0.0, "prob": 0.5}


@schema_section("natgrad.schema.yaml#/$defs/gan", device=DEVICE)
@dataclass(frozen=True)
class GanConfig:
    """Config of the simple-GAN experiment (natgrad.gan)."""

    methods: tuple[str, ...]
    lr: dict[str, float]
    hparams: dict[str, dict]  # registry optimizer name -> kwargs (adam betas)
    support: int
    radius: float
    data_skew: float
    mu: float
    d_output: str
    net: NetConfig
    init_scale: float
    steps: int
    record_every: int
    seeds: tuple[int, ...]
    rise_rtol: float
    full_rank_rtol: float
    solver: SolverConfig
    device: str

    def __post_init__(self) -> None:
        check_methods(self.methods, self.lr, GAN_METHODS)
        if self.support < 2:
            raise ConfigError(f"natgrad.gan.support must be >= 2 points, got {self.support}")
        if self.d_output not in D_STAR:
            raise ConfigError(f"natgrad.gan.d_output '{self.d_output}' is not one of {', '.join(D_STAR)}")
        if self.net.arch != "mlp":
            raise ConfigError(f"natgrad.gan.net.arch must be mlp, got '{self.net.arch}'")


def support_points(k: int, radius: float) -> torch.Tensor:
    """K points evenly spaced on a circle, (K, 2)."""
    angle = 2 * torch.pi * torch.arange(k, dtype=torch.float64) / k
    return radius * torch.stack([angle.cos(), angle.sin()], dim=-1)


def data_weights(k: int, skew: float) -> torch.Tensor:
    """p_data over the support: proportional to exp(skew * k / (K - 1))."""
    w = torch.exp(skew * torch.arange(k, dtype=torch.float64) / (k - 1))
    return w / w.sum()


def payoff(p: torch.Tensor, d: torch.Tensor, p_data: torch.Tensor, mu: float, d_output: str) -> torch.Tensor:
    """Psi(p, D) = sum p_data log D + sum p log(1 - D) + mu/2 ||p - p_data||^2; log D = -g_nonsaturating(u)
    and log(1 - D) = g_minimax(u) per support point, u the discriminator's logits."""
    u = (d if d_output == "logit" else torch.logit(d)).unsqueeze(-1)
    log_d = -torch.vmap(losses.g_nonsaturating)(u)
    log_not_d = torch.vmap(losses.g_minimax)(u)
    return (p_data * log_d).sum() + (p * log_not_d).sum() + mu / 2 * ((p - p_data) ** 2).sum()


def _softmax(y: torch.Tensor) -> torch.Tensor:
    return torch.softmax(y, dim=-1)


class FiniteGan:
    """Both players of one seed: ganopt.gan.nets G and D (float64), the fixed latent and support."""

    def __init__(self, cfg: GanConfig, seed: int, device: torch.device) -> None:
        seed_everything(seed)
        self.cfg = cfg
        self.G = build_pair(cfg.net, (cfg.support,))[0].to(device, torch.float64)
        self.D = build_pair(cfg.net, (2,))[1].to(device, torch.float64)
        with torch.no_grad():
            for p in [*self.G.parameters(), *self.D.parameters()]:
                p.mul_(cfg.init_scale)
        gen = torch.Generator().manual_seed(seed)
        self.c = torch.randn(1, cfg.net.z_dim, generator=gen, dtype=torch.float64).to(device)
        self.x = support_points(cfg.support, cfg.radius).to(device)
        self.p_data = data_weights(cfg.support, cfg.data_skew).to(device)
        self.d_head = torch.sigmoid if cfg.d_output == "prob" else None

    def outputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(p (K,), D's output on the support (K,)), differentiable in both players' parameters."""
        u = self.D(self.x)
        return _softmax(self.G(self.c)).reshape(-1), (u if self.d_head is None else self.d_head(u))

    def psi(self) -> torch.Tensor:
        return payoff(*self.outputs(), self.p_data, self.cfg.mu, self.cfg.d_output)

    def output_grads(self, p: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(dPsi/dp projected onto the simplex's tangent, dPsi/dD) at fixed outputs."""
        p, d = p.detach().requires_grad_(), d.detach().requires_grad_()
        gp, gd = torch.autograd.grad(payoff(p, d, self.p_data, self.cfg.mu, self.cfg.d_output), (p, d))
        return gp - gp.mean(), gd

    def jacobians(self) -> tuple[ModelJacobian, ModelJacobian]:
        return ModelJacobian(self.G.body, self.c, _softmax), ModelJacobian(self.D.body, self.x, self.d_head)

    def lyapunov(self) -> tuple[float, float]:
        """(V_F, V_D): 1/(2K) ||p - p_data||^2 and 1/(2K) ||D - D*||^2."""
        with torch.no_grad():
            p, d = self.outputs()
        k = self.cfg.support
        return (float(((p - self.p_data) ** 2).sum()) / (2 * k),
                float(((d - D_STAR[self.cfg.d_output]) ** 2).sum()) / (2 * k))

    def sigmas(self) -> tuple[float, float, float, float]:
        """sigma_{K-1}(J_F), sigma_K(J_D) and each over its largest singular value."""
        jf, jd = self.jacobians()
        sf, sd = singular_values(jf), singular_values(jd)
        k = self.cfg.support
        return float(sf[k - 2]), float(sd[k - 1]), float(sf[k - 2] / sf[0]), float(sd[k - 1] / sd[0])


class Stepper:
    """One method's update of a FiniteGan: natural gradient, or a registry optimizer in a Game."""

    def __init__(self, game: FiniteGan, cfg: GanConfig, method: str) -> None:
        self.game, self.cfg, self.method = game, cfg, method
        self.kind, self.scheme = METHODS.get(method, ("adam", "simultaneous"))
        self.solver = "none"
        if method in BASELINES:
            name = BASELINES[method]
            kwargs = optimizer_kwargs(cfg.hparams.get(name, {}))
            opt_g = build_optimizer(name, list(game.G.named_parameters()), cfg.lr[method], **kwargs)
            opt_d = build_optimizer(name, list(game.D.named_parameters()), cfg.lr[method], **kwargs)
            self.loop = Game(self.scheme, opt_g, opt_d)

    def step(self) -> None:
        if self.method in BASELINES:
            self.loop.step(lambda: -self.game.psi(), self.game.psi)
            return
        g, lr, cap = self.game, self.cfg.lr[self.method], self.cfg.solver.step_cap
        jf, jd = g.jacobians()
        p = jf.outputs
        grad_p, grad_d = g.output_grads(p, jd.outputs)
        step_d, info = natural_direction(jd, grad_d, self.cfg.solver)
        self.solver = info.solver
        if self.scheme == "alternating":                             # D ascends, then G sees it
            add_to_params(g.D.body, cap_step(lr * step_d, cap))
            grad_p, _ = g.output_grads(p, g.outputs()[1])
            add_to_params(g.G.body, cap_step(-lr * natural_direction(jf, grad_p, self.cfg.solver)[0], cap))
            return
        # simultaneous: one trust region for the joint step, so a capped step still follows the flow
        joint = cap_step(lr * torch.cat([step_d, -natural_direction(jf, grad_p, self.cfg.solver)[0]]), cap)
        add_to_params(g.D.body, joint[:step_d.numel()])
        add_to_params(g.G.body, joint[step_d.numel():])


def run_seed(cfg: GanConfig, method: str, seed: int, device: torch.device) -> pd.DataFrame:
    """One method from one seed's initialization: V every step, a CSV row every record_every steps
    with V, p, sigma of both Jacobians; per-run columns: rises of V, min sigmas, full_rank. A run
    whose V turns non-finite stops there (its last row has V = NaN or inf and full_rank False)."""
    game = FiniteGan(cfg, seed, device)
    stepper = Stepper(game, cfg, method)
    v, rows = [], []
    for t in range(cfg.steps + 1):
        v_f, v_d = game.lyapunov()
        v.append(v_f + v_d)
        diverged = not np.isfinite(v[-1])
        if t % cfg.record_every == 0 or t == cfg.steps or diverged:
            with torch.no_grad():
                p = game.outputs()[0]
            s_f, s_d, r_f, r_d = (np.nan,) * 4 if diverged else game.sigmas()
            rows.append({"step": t, "V": v[-1], "V_F": v_f, "V_D": v_d,
                         "tv": 0.5 * float((p - game.p_data).abs().sum()),
                         "sigma_G": s_f, "sigma_D": s_d, "sigma_G_rel": r_f, "sigma_D_rel": r_d,
                         **{f"p{k}": float(p[k]) for k in range(cfg.support)}})
        if diverged:
            break
        if t < cfg.steps:
            stepper.step()
    frame = pd.DataFrame(rows)
    rel = np.minimum(frame["sigma_G_rel"].to_numpy(), frame["sigma_D_rel"].to_numpy())
    return frame.assign(method=method, solver=stepper.solver, init=seed, rises=rises(np.array(v), cfg.rise_rtol),
                        sigma_G_min=frame["sigma_G"].min(), sigma_D_min=frame["sigma_D"].min(),
                        full_rank=bool(np.isfinite(rel).all() and rel.min() > cfg.full_rank_rtol))


def run_method(cfg: GanConfig, method: str) -> pd.DataFrame:
    """Every seed of one method."""
    device = select_device(cfg.device)
    return pd.concat([run_seed(cfg, method, seed, device) for seed in cfg.seeds], ignore_index=True)


def seed_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per seed: V at start and end, rises of V, monotone (no rise beyond rise_rtol), min sigmas, full rank."""
    out = []
    for seed, run in frame.groupby("init", sort=True):
        run = run.sort_values("step")
        first, last = run.iloc[0], run.iloc[-1]
        out.append({"seed": int(seed), "V_start": float(first["V"]), "V_end": float(last["V"]),
                    "tv_end": float(last["tv"]), "rises": int(first["rises"]), "monotone": bool(first["rises"] == 0),
                    "sigma_G_min": float(first["sigma_G_min"]), "sigma_D_min": float(first["sigma_D_min"]),
                    "full_rank": bool(first["full_rank"])})
    return out


def plot_sigma(frames: dict[str, pd.DataFrame], path: Path) -> None:
    """The smallest singular value of each player's Jacobian along every run, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganopt.io import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, (col, name) in zip(axes, (("sigma_G", "sigma_K-1(J_F), generator"), ("sigma_D", "sigma_K(J_D), discriminator"))):
        for i, (method, frame) in enumerate(frames.items()):
            for j, (_, run) in enumerate(frame.groupby("init")):
                ax.semilogy(run["step"], run[col].clip(lower=1e-18), color=f"C{i}", lw=0.8, alpha=0.7,
                            label=method if j == 0 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
    axes[0].set_ylabel("smallest singular value")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def plot_distribution(frames: dict[str, pd.DataFrame], p_data: np.ndarray, path: Path) -> None:
    """Final generator distribution of every run next to p_data, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganopt.io import save_figure

    k = len(p_data)
    fig, axes = plt.subplots(1, len(frames), figsize=(3.2 * len(frames), 2.8), sharey=True, squeeze=False)
    for ax, (method, frame) in zip(axes[0], frames.items()):
        last = frame[frame["step"] == frame["step"].max()]
        for _, run in last.iterrows():
            ax.plot(range(k), [run[f"p{i}"] for i in range(k)], "o", ms=3, alpha=0.5, color="C0")
        ax.plot(range(k), p_data, "k_", ms=14, mew=2, label="p_data")
        ax.set_title(f"{method}: final p", fontsize=9)
        ax.set_xlabel("support point")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def run_gan(cfg: GanConfig, out: Path, tracker) -> dict:
    """Every method: CSV per method, figures, MLflow curves; returns per-method seed records."""
    frames = {}
    for method in cfg.methods:
        frames[method] = run_method(cfg, method)
        write_method(out, method, frames[method])
        log_curves(tracker, frames[method].assign(all=0), method, "all")
        print(f"gan {method}: done", flush=True)
    labelled = {}
    for method, frame in frames.items():
        runs = frame.groupby("init")
        monotone = int((runs["rises"].first() == 0).sum())
        labelled[f"{method}: V never rises in {monotone}/{runs.ngroups} seeds"] = frame.assign(all=0)
    plot_v(labelled, "all", out / "V.png", f"Finite-support GAN (K = {cfg.support}, mu = {cfg.mu:g}): V(t); a point "
           f"every {cfg.record_every} steps, rises checked at every step")
    plot_sigma(frames, out / "sigma.png")
    plot_distribution(frames, data_weights(cfg.support, cfg.data_skew).numpy(), out / "p.png")
    return {m: {"solver": str(f["solver"].iloc[0]), "seeds": seed_records(f)} for m, f in frames.items()}
