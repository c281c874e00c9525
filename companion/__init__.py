"""companion: the tested library behind the notebooks of the compression-survey companion.

A hands-on companion to Deng, Li, Han, Shi, Xie, "Model Compression and Hardware Acceleration
for Neural Networks: A Comprehensive Survey", Proc. IEEE 108(4):485-532, 2020.

Ground floor (no imports from the rest of the package): :mod:`companion.data`,
:mod:`companion.models`, :mod:`companion.plotting`. The hall: :mod:`companion.train`,
:mod:`companion.metrics`, :mod:`companion.widgets`, :mod:`companion.exercises`.
One module per survey chapter builds on those (chapter 1's cost model is
:mod:`companion.why_compress`, chapter 8's recurrent workload :mod:`companion.recurrent`; the
accelerator package :mod:`companion.accelerator` holds the book's one energy table).

Code: MIT licence. Text: CC-BY-4.0.
"""
import os as _os
import sys as _sys

__version__ = "0.1.0"

#: OpenMP threads that wait for work by sleeping after a short spin. libgomp's default spin of
#: 300,000 rounds makes each of torch's threads busy-wait at every parallel region; when another
#: program holds one of the cores, the threads take turns and a chapter ran 4.5x slower (chapter 3:
#: 18 s quiet, 85 s with one core busy; 24 s with this setting). libgomp reads it when torch is
#: first imported, so it only helps when ``companion`` comes first; ``./run.sh``, the book build
#: and the test runner set it for every kernel. No effect on results.
OPENMP_ENV = {"GOMP_SPINCOUNT": "10000"}
if "torch" not in _sys.modules:
    for _k, _v in OPENMP_ENV.items():
        _os.environ.setdefault(_k, _v)
