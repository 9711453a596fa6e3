"""PyTorch side of bench/int8.bench.ts: float32 inference at batch 1 of the networks of bench/models_pytorch.py.

Usage: int8_pytorch.py <model> [--threads 2] [--rounds 5] [--runs 3]
Prints one JSON line: {"model", "torch", "threads", "inference_s_per_image", "rounds_s"}; the figure is the median
round, each round the mean of --runs forward passes of one random image after two warm-up passes, under
torch.no_grad() in eval mode (the network alone: no transform, no post-processing, as ours is timed).
"""
import argparse, json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from models_pytorch import build  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('model')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--classes', type=int, default=21)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, size = build(a.model, a.classes)
    model.eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1)) - 0.45
    rounds = []
    with torch.no_grad():
        for _ in range(2):
            model(x)
        for _ in range(a.rounds):
            t = time.perf_counter()
            for _ in range(a.runs):
                model(x)
            rounds.append((time.perf_counter() - t) / a.runs)
    print(json.dumps({'model': a.model, 'torch': torch.__version__, 'threads': a.threads, 'inference_s_per_image': sorted(rounds)[len(rounds) // 2], 'rounds_s': rounds}))


if __name__ == '__main__':
    main()
