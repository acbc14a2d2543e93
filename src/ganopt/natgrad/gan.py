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
a time change that keeps the flow's path (ganopt.natgrad.games.joint_step), where per-player caps
bend it and pilots then hit the simplex's boundary), gda / gda_alt (the registry's sgda) and adam
(the registry's adam; hyperparameters from `hparams`), stepped per seed by the registry's batched
update (ganopt.toy.updates.BatchedPlayer: each seed exactly as its own torch optimizer). Every seed
runs in one batched program: each seed's nets are built as before (seed_everything, ganopt.gan.nets)
and become one row of flat parameters, evaluated and differentiated with torch.func. Gradients
are exact (the support is finite): no sampling noise. The flow check (ganopt.natgrad.flow) runs on
the same batched game."""

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
from ganopt.natgrad.flow import FlowGame, flow_runs
from ganopt.natgrad.games import METHODS, FlowConfig, check_methods, joint_step, singular_values
from ganopt.natgrad.jacobian import flat_params
from ganopt.natgrad.mlp import MlpJacobian, batched_mlp
from ganopt.natgrad.monotone import rises
from ganopt.natgrad.record import log_curves, plot_v, write_flow, write_method
from ganopt.natgrad.solvers import SolverConfig, cap_step, natural_direction
from ganopt.runtime import seed_everything, select_device
from ganopt.toy.updates import BatchedPlayer

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
    solver: SolverConfig
    flow: FlowConfig
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
    """Psi(p, D) = sum p_data log D + sum p log(1 - D) + mu/2 ||p - p_data||^2 over the last dim (any
    leading dims: one value per seed); log D = -g_nonsaturating(u) and log(1 - D) = g_minimax(u) per
    support point, u the discriminator's logits."""
    u = d if d_output == "logit" else torch.logit(d)
    flat = u.reshape(-1, 1)
    log_d = -torch.vmap(losses.g_nonsaturating)(flat).reshape(u.shape)
    log_not_d = torch.vmap(losses.g_minimax)(flat).reshape(u.shape)
    return (p_data * log_d).sum(-1) + (p * log_not_d).sum(-1) + mu / 2 * ((p - p_data) ** 2).sum(-1)


class FiniteGan:
    """Every seed's players as rows of flat parameters: the ganopt.gan.nets MLPs G and D (float64) built
    per seed as a torch module would be (seed_everything, then build_pair and init_scale), each
    seed's fixed latent c, and the support; outputs and Jacobians of all seeds in one batched pass
    (ganopt.natgrad.mlp: G is ReLU, D LeakyReLU(0.2), as ganopt.gan.nets builds them)."""

    def __init__(self, cfg: GanConfig, seeds: tuple[int, ...], device: torch.device) -> None:
        self.cfg = cfg
        thetas, phis, latents = [], [], []
        for seed in seeds:
            seed_everything(seed)
            G = build_pair(cfg.net, (cfg.support,))[0].to(device, torch.float64)
            D = build_pair(cfg.net, (2,))[1].to(device, torch.float64)
            thetas.append(flat_params(G.body) * cfg.init_scale)
            phis.append(flat_params(D.body) * cfg.init_scale)
            latents.append(torch.randn(1, cfg.net.z_dim, generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64).to(device))
        self.G, self.D = G.body, D.body                              # one seed's modules, to check against
        self.theta0, self.phi0, self.c = torch.stack(thetas), torch.stack(phis), torch.stack(latents)
        self.x = support_points(cfg.support, cfg.radius).to(device)
        self.p_data = data_weights(cfg.support, cfg.data_skew).to(device)
        hidden = [cfg.net.width] * cfg.net.depth
        self.g_sizes, self.d_sizes = [cfg.net.z_dim, *hidden, cfg.support], [2, *hidden, 1]

    def gen(self, theta: torch.Tensor) -> tuple[torch.Tensor, MlpJacobian]:
        """p = softmax(G(c)) (S, K) and J_F (S, K, P_G) of every seed."""
        y, jac = batched_mlp(theta, self.c, self.g_sizes, 0.0)
        p = torch.softmax(y[:, 0], dim=-1)
        return p, jac.with_head(torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2))

    def dis(self, phi: torch.Tensor) -> tuple[torch.Tensor, MlpJacobian]:
        """D's outputs on the support (S, K) (logits, or sigmoid for d_output prob) and J_D (S, K, P_D)."""
        u, jac = batched_mlp(phi, self.x.unsqueeze(0), self.d_sizes, 0.2)
        u = u[..., 0]
        if self.cfg.d_output == "logit":
            return u, jac
        d = torch.sigmoid(u)
        return d, jac.with_head(torch.diag_embed(d * torch.sigmoid(-u)))

    def output_grads(self, p: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(dPsi/dp projected onto the simplex's tangent, dPsi/dD) of every seed at fixed outputs."""
        p, d = p.detach().requires_grad_(), d.detach().requires_grad_()
        gp, gd = torch.autograd.grad(payoff(p, d, self.p_data, self.cfg.mu, self.cfg.d_output).sum(), (p, d))
        return gp - gp.mean(-1, keepdim=True), gd

    def lyapunov_parts(self, p: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(V_F, V_D) per seed: 1/(2K) ||p - p_data||^2 and 1/(2K) ||D - D*||^2."""
        k = self.cfg.support
        return ((p - self.p_data) ** 2).sum(-1) / (2 * k), ((d - D_STAR[self.cfg.d_output]) ** 2).sum(-1) / (2 * k)

    def lyapunov(self, p: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        v_f, v_d = self.lyapunov_parts(p, d)
        return v_f + v_d

    def flow_game(self) -> FlowGame:
        return FlowGame(self.gen, self.dis, self.output_grads, self.lyapunov, self.theta0, self.phi0,
                        rank_F=self.cfg.support - 1, rank_G=self.cfg.support)


class Stepper:
    """One method's update of every seed at once: natural gradient (joint trust region when
    simultaneous), or a registry optimizer per player (BatchedPlayer), simultaneous or D first."""

    def __init__(self, game: FiniteGan, cfg: GanConfig, method: str) -> None:
        self.game, self.cfg, self.method = game, cfg, method
        self.kind, self.scheme = METHODS.get(method, ("adam", "simultaneous"))
        self.solver = "none"
        self.theta, self.phi = game.theta0.clone(), game.phi0.clone()
        if method in BASELINES:
            name = BASELINES[method]
            kwargs = optimizer_kwargs(cfg.hparams.get(name, {}))
            self.opt_g = BatchedPlayer(name, [self.theta], cfg.lr[method], **kwargs)
            self.opt_d = BatchedPlayer(name, [self.phi], cfg.lr[method], **kwargs)

    def step(self, p: torch.Tensor, jf: MlpJacobian, d: torch.Tensor, jd: MlpJacobian) -> None:
        """One update from the outputs and Jacobians at the current parameters."""
        g, lr, cap = self.game, self.cfg.lr[self.method], self.cfg.solver.step_cap
        grad_p, grad_d = g.output_grads(p, d)
        if self.method in BASELINES:                                 # G descends Psi, D ascends it
            self.opt_d.step([-jd.rmv(grad_d)])
            if self.scheme == "alternating":
                grad_p, _ = g.output_grads(p, g.dis(self.phi)[0])
            self.opt_g.step([jf.rmv(grad_p)])
            return
        step_d, info = natural_direction(jd, grad_d, self.cfg.solver)
        self.solver = info.solver
        if self.scheme == "alternating":                             # D ascends, then G sees it
            self.phi += cap_step(lr * step_d, cap)
            grad_p, _ = g.output_grads(p, g.dis(self.phi)[0])
            self.theta -= cap_step(lr * natural_direction(jf, grad_p, self.cfg.solver)[0], cap)
            return
        joint = joint_step(natural_direction(jf, grad_p, self.cfg.solver)[0], step_d, lr, cap)
        self.theta += joint[:, :self.theta.shape[-1]]
        self.phi += joint[:, self.theta.shape[-1]:]


def run_method(cfg: GanConfig, method: str) -> pd.DataFrame:
    """One method from every seed's initialization: V every step, a CSV row per seed every
    record_every steps with V, p and the smallest singular value of both Jacobians; per-run columns:
    rises of V (a step to a non-finite V counts) and the smallest singular values."""
    device = select_device(cfg.device)
    game = FiniteGan(cfg, cfg.seeds, device)
    stepper = Stepper(game, cfg, method)
    k, v, rows = cfg.support, [], []
    for t in range(cfg.steps + 1):
        (p, jf), (d, jd) = game.gen(stepper.theta), game.dis(stepper.phi)
        v_f, v_d = game.lyapunov_parts(p, d)
        v.append((v_f + v_d).cpu().numpy())
        if t % cfg.record_every == 0 or t == cfg.steps:
            sf, sd = singular_values(jf), singular_values(jd)
            rows.append(pd.DataFrame({
                "step": t, "init": list(cfg.seeds), "V": v[-1], "V_F": v_f.cpu().numpy(), "V_D": v_d.cpu().numpy(),
                "tv": 0.5 * (p - game.p_data).abs().sum(-1).cpu().numpy(),
                "sigma_G": sf[:, k - 2].cpu().numpy(), "sigma_D": sd[:, k - 1].cpu().numpy(),
                "sigma_G_rel": (sf[:, k - 2] / sf[:, 0]).cpu().numpy(), "sigma_D_rel": (sd[:, k - 1] / sd[:, 0]).cpu().numpy(),
                **{f"p{i}": p[:, i].cpu().numpy() for i in range(k)}}))
        if t < cfg.steps:
            stepper.step(p, jf, d, jd)
    V = np.stack(v)
    frame = pd.concat(rows, ignore_index=True).sort_values(["init", "step"], kind="stable").reset_index(drop=True)
    per_run = pd.DataFrame({"init": list(cfg.seeds), "rises": [rises(V[:, i], cfg.rise_rtol) for i in range(V.shape[1])]})
    lows = frame.groupby("init")[["sigma_G", "sigma_D"]].min().add_suffix("_min").reset_index()
    return frame.merge(per_run, on="init").merge(lows, on="init").assign(method=method, solver=stepper.solver)


def seed_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per seed: V at start and end, rises of V, monotone (no rise beyond rise_rtol), min sigmas."""
    out = []
    for seed, run in frame.groupby("init", sort=True):
        run = run.sort_values("step")
        first, last = run.iloc[0], run.iloc[-1]
        out.append({"seed": int(seed), "V_start": float(first["V"]), "V_end": float(last["V"]),
                    "tv_end": float(last["tv"]), "rises": int(first["rises"]), "monotone": bool(first["rises"] == 0),
                    "sigma_G_min": float(first["sigma_G_min"]), "sigma_D_min": float(first["sigma_D_min"])})
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


def gan_flow(cfg: GanConfig) -> pd.DataFrame:
    """The flow check of ng on every seed (ganopt.natgrad.flow); empty without mu > 0 (no claim)."""
    if cfg.mu <= 0 or "ng" not in cfg.methods:
        return pd.DataFrame()
    game = FiniteGan(cfg, cfg.seeds, select_device(cfg.device))
    return flow_runs(game.flow_game(), cfg.solver, cfg.lr["ng"], cfg.steps, cfg.flow,
                     {"setting": "mu=" + f"{cfg.mu:g}", "init": np.array(cfg.seeds)})


def run_gan(cfg: GanConfig, out: Path, tracker) -> dict:
    """Every method: CSV per method, figures, MLflow curves, the flow check (flow.csv); returns
    per-method seed records."""
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
    write_flow(out, gan_flow(cfg))
    return {m: {"solver": str(f["solver"].iloc[0]), "seeds": seed_records(f)} for m, f in frames.items()}
