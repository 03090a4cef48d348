"""Small matplotlib helpers of the vSGD studies' figures (Agg canvas, no global backend).

Not a study (no ``STUDY``).
"""
from __future__ import annotations

from pathlib import Path


def canvas(nrows: int, ncols: int, w: float = 5.0, h: float = 3.8):
    """A :class:`matplotlib.figure.Figure` on an Agg canvas (pyplot's state untouched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (temporary file, then rename)."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png", dpi=110)
    os.replace(tmp, path)
    return path


def write_text(text: str, path) -> Path:
    """Write ``text`` to ``path`` atomically."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
