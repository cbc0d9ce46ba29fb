"""Where a model's streaming step spends its time: ``torch.profiler``'s top operators.

    python benchmarks/profile_step.py [--models gru estrnn] [--size 256 256] [--fast]

Profiles a few steady-state ``model.step`` calls of each model with IRM+ATB (``--bare``
for the bare model) in inference mode and prints the operators by self CPU time (CUDA time
on a GPU), with their share of the step. ``aten::mkldnn_convolution`` is the (oneDNN)
convolutions; the transposed convolutions show up as ``aten::_convolution``'s self time.
"""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile

from rirn_layers.baselines import build_model

from _common import parser, stepper


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["gru", "estrnn"])
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--fast", action="store_true", help="profile the fast path")
    p.add_argument("--bare", action="store_true", help="without IRM and ATB")
    p.add_argument("--rows", type=int, default=10)
    args = p.parse_args()
    cuda = args.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    for name in args.models:
        model = build_model(name, irm=not args.bare, atb=not args.bare).to(args.device).eval()
        if args.fast:
            model.set_fast_path()
        call = stepper(model, torch.rand(1, 3, *args.size, device=args.device))
        call()
        with profile(activities=activities) as prof:
            for _ in range(args.repeats):
                call()
            if cuda:
                torch.cuda.synchronize()
        key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
        events = sorted(prof.key_averages(), key=lambda e: -getattr(e, key))
        total = sum(getattr(e, key) for e in events)
        print(f"\n{name}{'' if args.bare else '+IRM+ATB'}, {args.size[1]}x{args.size[0]}, "
              f"{'fast path' if args.fast else 'fp32'}: {total / args.repeats / 1e3:.1f} ms "
              "of operator self time per step")
        for event in events[: args.rows]:
            share = getattr(event, key) / total
            print(f"  {event.key:<32} {100 * share:5.1f} %  {event.count // args.repeats:4d} calls")


if __name__ == "__main__":
    main()
