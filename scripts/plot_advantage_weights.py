"""Draw the two symmetries of GRPO that A-GRAE breaks, from mmrl's own estimators.

For one prompt with G samples and 0/1 rewards, k of them correct (success rate p = k/G):

* left, sample-level symmetry: the per-prompt weight Σ_i |A_i| against p. GRPO and Dr.GRPO are
  symmetric around p = 0.5; A-GRAE moves the peak to p* = (1−ω)²/((1−ω)²+ω²) as the batch accuracy
  ω grows (easy prompts early, hard prompts late). Dotted: the closed form G·[ω√(1−p) + (1−ω)√p]
  (×√((G−1)/G) for the Bessel std) of the reweighting alone, before the positive-only attenuation.
* right, group-level symmetry: the positive mass Σ_{A>0} A and the negative mass Σ_{A<0} |A|. They
  are equal for GRPO; A-GRAE scales the positive side by min(1, ω/α).

    python scripts/plot_advantage_weights.py --out advantage_weights.png [--group-size 8] [--alpha 1.0]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

OMEGAS = (0.2, 0.5, 0.8)


def group_masses(estimator: str, group_size: int, **params: float) -> list[tuple[float, float, float]]:
    """(p, positive mass, negative mass) for one prompt with k = 0..G correct samples."""
    import torch

    from mmrl.algos import compute_advantages

    out = []
    for k in range(group_size + 1):
        rewards = torch.tensor([1.0] * k + [0.0] * (group_size - k))
        adv = compute_advantages(estimator, rewards, torch.zeros(group_size, dtype=torch.long), **params)
        out.append((k / group_size, float(adv.clamp(min=0).sum()), float((-adv).clamp(min=0).sum())))
    return out


def plot(out: Path, group_size: int, alpha: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mmrl.algos import a_grae_weight, peak_success_rate

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for name, label, style in (("grpo", "GRPO", "k-o"), ("dr_grpo", "Dr.GRPO", "k--s")):
        rows = group_masses(name, group_size)
        left.plot([p for p, _, _ in rows], [a + b for _, a, b in rows], style, label=label, ms=4)
    rows = group_masses("grpo", group_size)
    right.plot(
        [p for p, _, _ in rows], [a for _, a, _ in rows], "k-o", ms=4, label="GRPO: positive = negative"
    )

    lo, hi = 1 / group_size, 1 - 1 / group_size  # the closed form holds for 0 < p < 1
    fine = [lo + (hi - lo) * i / 200 for i in range(201)]
    bessel = math.sqrt((group_size - 1) / group_size)
    for omega, color in zip(OMEGAS, ("tab:blue", "tab:orange", "tab:red"), strict=True):
        rows = group_masses("grpo+a_grae", group_size, batch_accuracy=omega, alpha=alpha)
        ps = [p for p, _, _ in rows]
        left.plot(ps, [a + b for _, a, b in rows], "-o", color=color, ms=4, label=f"A-GRAE ω={omega}")
        closed = [a_grae_weight(p, omega, group_size) * bessel for p in fine]
        note = "closed form before attenuation" if omega == OMEGAS[0] else None
        left.plot(fine, closed, ":", color=color, lw=1, label=note)
        left.axvline(peak_success_rate(omega), color=color, lw=0.6, alpha=0.5)
        right.plot(ps, [a for _, a, _ in rows], "--o", color=color, ms=3, label=f"A-GRAE ω={omega}: positive")
        right.plot(ps, [b for _, _, b in rows], "-", color=color, label=f"A-GRAE ω={omega}: negative")

    left.set(
        xlabel="success rate p = k/G",
        ylabel="per-prompt weight Σ|A_i|",
        title=f"Sample-level symmetry (G={group_size}, α={alpha}; vertical lines: p*)",
    )
    right.set(
        xlabel="success rate p = k/G",
        ylabel="advantage mass per prompt",
        title="Group-level symmetry: Σ_{A>0} A vs Σ_{A<0} |A|",
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("advantage_weights.png"), help="PNG to write")
    parser.add_argument("--group-size", type=int, default=8, help="samples per prompt G (default 8)")
    parser.add_argument("--alpha", type=float, default=1.0, help="A-GRAE alpha in (0, 1] (default 1.0)")
    args = parser.parse_args(argv)
    if args.group_size < 2 or not 0 < args.alpha <= 1:
        parser.error("--group-size must be >= 2 and --alpha in (0, 1]")
    print(plot(args.out, args.group_size, args.alpha))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
