"""PyTorch batch-1 SGD on 784-500-300-10 (studies.perf_torch), in its own process, for the
prototypes' numbers (see README.md here)."""
import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np
from adaptlr.data import load_mnist
from studies.perf_torch import batch1_samples_per_s, set_threads
set_threads(2)
d = load_mnist()
X, y = d.X_train[:10000].astype(np.float32), d.y_train[:10000].astype(np.int64)
r = batch1_samples_per_s("sgd", X, y, [784, 500, 300, 10], n_samples=3000, hyper={"lr": 0.01}, repeats=3)
print("torch b1 samples/s (2 threads):", r)
