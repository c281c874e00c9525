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
__version__ = "0.1.0"
