"""One frame function, two faces: a live ipywidgets explorer and its kernel-free static twin.

A chapter writes ``frame(**values) -> matplotlib.figure.Figure`` once. :func:`explore` shows

* in JupyterLab (live): sliders / dropdowns over the frames, rendered once when the cell runs
  (so a move answers in milliseconds; keep ``frame`` itself cheap — precompute what is slow,
  the frame only looks things up and draws);
* on the website (``COMPANION_STATIC=1``, set by the book build): every combination of the
  control values rendered at build time into a small HTML/JS player with the same controls,
  so a reader without Python can still drag through the values.

Both call the same ``frame``, so they cannot drift apart.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import os
import statistics
import time
import warnings
from typing import Any, Callable, Mapping, Sequence

__all__ = ["explore", "render_frames", "static_player_html", "frame_timings_ms", "timing_summary", "show_timing", "static_mode"]

Frame = Callable[..., Any]


def static_mode() -> bool:
    """True when outputs are meant for the static website (``COMPANION_STATIC=1``)."""
    return os.environ.get("COMPANION_STATIC", "") not in ("", "0", "false", "False")


def _check_controls(controls: Mapping[str, Sequence]) -> dict[str, list]:
    if not controls:
        raise ValueError("explore needs at least one control, e.g. sparsity=[0.5, 0.9]")
    out = {}
    for name, values in controls.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"control {name!r} must be a list of values, got {type(values).__name__}")
        values = list(values)
        if not values:
            raise ValueError(f"control {name!r} has no values")
        out[name] = values
    n = 1
    for v in out.values():
        n *= len(v)
    if n > 400:
        raise ValueError(f"{n} combinations are too many frames for a static player (limit 400); use fewer values")
    return out


def _fig_png(fig, dpi: int) -> bytes:
    """The figure as a PNG with a 256-colour palette: a plot has few colours, and a static player
    embeds every frame in its page, so frames ~3x smaller keep a chapter page light."""
    import matplotlib.pyplot as plt
    from PIL import Image
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(buf, format="png", dpi=dpi)
    if any("constrained_layout not applied" in str(w.message) for w in caught):
        # a frame whose text crowds the constrained layout: lay it out once more the simple way,
        # rather than print a warning on the reader's page
        fig.set_layout_engine("tight")
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fig.savefig(buf, format="png", dpi=dpi)
    else:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    plt.close(fig)
    buf.seek(0)
    image = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, dpi=(dpi, dpi))
    return out.getvalue()


def render_frames(frame: Frame, controls: Mapping[str, Sequence], dpi: int = 72) -> dict[tuple, bytes]:
    """PNG bytes of ``frame(**values)`` for every combination of the control values."""
    controls = _check_controls(controls)
    names = list(controls)
    return {combo: _fig_png(frame(**dict(zip(names, combo))), dpi)
            for combo in itertools.product(*controls.values())}


def _label(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _script_json(obj) -> str:
    """JSON that is safe *inside* an HTML ``<script>`` element.

    ``json.dumps`` alone is not: a label ``"</script><script>alert(1)"`` would end the element
    and ``"<!--"`` switches the HTML parser into its script-data-escaped state. Every ``<``,
    ``>`` and ``&`` becomes a ``\\u00XX`` escape (still the same string to JavaScript), and
    ``ensure_ascii`` escapes U+2028/U+2029 (line terminators in older JavaScript).
    """
    text = json.dumps(obj, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _html_text(text: str) -> str:
    """``html.escape`` (quotes included) plus U+2028/U+2029 as character references, so the page
    stays safe if a renderer later embeds it in a JavaScript string."""
    return html.escape(str(text), quote=True).replace("\u2028", "&#x2028;").replace("\u2029", "&#x2029;")


def static_player_html(frames: Mapping[tuple, bytes], controls: Mapping[str, Sequence], title: str = "") -> str:
    """Self-contained HTML + JS: one range input (numbers) or select (text) per control, one image.

    Text that comes from the caller (``title``, control names, value labels) is HTML-escaped
    where it lands in markup and :func:`_script_json`-escaped where it lands in the script, so no
    label can close the ``<script>`` element or inject markup.
    """
    controls = _check_controls(controls)
    names = list(controls)
    key = hashlib.sha1(json.dumps([names, [[_label(v) for v in vs] for vs in controls.values()], title]).encode()).hexdigest()[:10]
    uid = f"cx{key}"
    images = {"|".join(str(i) for i in idx): base64.b64encode(frames[tuple(controls[n][i] for n, i in zip(names, idx))]).decode()
              for idx in itertools.product(*[range(len(v)) for v in controls.values()])}
    inputs = []
    for j, (name, values) in enumerate(controls.items()):
        labels = [_label(v) for v in values]
        if all(isinstance(v, str) for v in values):
            opts = "".join(f'<option value="{i}">{_html_text(l)}</option>' for i, l in enumerate(labels))
            ctl = f'<select data-k="{j}" aria-label="{_html_text(name)}">{opts}</select>'
        else:
            ctl = (f'<input type="range" data-k="{j}" min="0" max="{len(values) - 1}" step="1" value="0" '
                   f'aria-label="{_html_text(name)}" style="width:16em;vertical-align:middle">')
        inputs.append(f'<label style="margin-right:1.5em">{_html_text(name)} {ctl} '
                      f'<output data-o="{j}">{_html_text(labels[0])}</output></label>')
    labels_js = _script_json([[_label(v) for v in vs] for vs in controls.values()])
    first = images["|".join("0" for _ in names)]
    return f"""<div class="companion-player" id="{uid}">
<div style="font-weight:600">{_html_text(title)}</div>
<div class="companion-controls">{''.join(inputs)}</div>
<img alt="{_html_text(title or 'figure')}" style="max-width:100%" src="data:image/png;base64,{first}">
<div style="font-size:0.8em;color:#666">Static twin of the live widget: {len(images)} frames computed when the book was built.</div>
<script>(function(){{
 var root=document.getElementById("{uid}"), imgs={_script_json(images)}, labels={labels_js};
 var ctls=root.querySelectorAll("[data-k]"), img=root.querySelector("img");
 function update(){{ var idx=[]; ctls.forEach(function(c){{ var k=+c.dataset.k, v=+c.value; idx[k]=v;
   root.querySelector('[data-o="'+k+'"]').textContent=labels[k][v]; }});
   img.src="data:image/png;base64,"+imgs[idx.join("|")]; }}
 ctls.forEach(function(c){{ c.addEventListener("input", update); c.addEventListener("change", update); }});
}})();</script></div>"""


def frame_timings_ms(frame: Frame, controls: Mapping[str, Sequence], max_frames: int = 12) -> list[float]:
    """Wall-clock milliseconds of ``frame`` + drawing for up to ``max_frames`` combinations."""
    controls = _check_controls(controls)
    names = list(controls)
    out = []
    for combo in itertools.islice(itertools.product(*controls.values()), max_frames):
        t0 = time.perf_counter()
        _fig_png(frame(**dict(zip(names, combo))), 72)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def _live(frame: Frame, controls: dict[str, list], title: str, dpi: int):
    """Sliders/dropdowns over an image. Every frame is rendered once up front (the same PNGs the
    static twin uses), so a slider move is a lookup: well under 100 ms even on a slow CPU."""
    import ipywidgets as W

    names = list(controls)
    t0 = time.perf_counter()
    frames = render_frames(frame, controls, dpi)
    render_s = time.perf_counter() - t0
    ctl_widgets = {}
    for name, values in controls.items():
        if all(isinstance(v, str) for v in values):
            ctl_widgets[name] = W.Dropdown(options=values, value=values[0], description=name)
        else:
            ctl_widgets[name] = W.SelectionSlider(options=[(_label(v), v) for v in values], value=values[0],
                                                  description=name, continuous_update=True,
                                                  style={"description_width": "initial"},
                                                  layout=W.Layout(width="28em"))
    image = W.Image(format="png", layout=W.Layout(max_width="100%"))
    status = W.Label()

    def redraw(*_):
        t = time.perf_counter()
        image.value = frames[tuple(ctl_widgets[n].value for n in names)]
        status.value = (f"{len(frames)} frames rendered in {render_s:.1f} s; "
                        f"this move took {1000 * (time.perf_counter() - t):.0f} ms")

    for w in ctl_widgets.values():
        w.observe(redraw, names="value")
    redraw()
    header = [W.HTML(f"<b>{html.escape(title)}</b>")] if title else []
    box = W.VBox(header + [W.HBox(list(ctl_widgets.values()), layout=W.Layout(flex_flow="row wrap")), image, status])
    box.controls = ctl_widgets  # for tests and for readers who want to drive it from code
    box.image = image
    box.values = controls
    box.render_s = render_s
    box.n_frames = len(frames)
    return box


def show_timing(explorer, label: str = "", moves: int = 6) -> None:
    """Print :func:`timing_summary` for a live explorer (in Jupyter: how fast the sliders answer);
    print nothing for a static player (the website: a reader's page carries no measurement chatter)."""
    if isinstance(explorer, str):
        return
    print((f"{label}: " if label else "") + timing_summary(explorer, moves))


def timing_summary(explorer, moves: int = 6) -> str:
    """One line on how fast an explorer answers: the measured time of a few slider moves (live),
    and how long rendering its frames took when the cell ran."""
    if isinstance(explorer, str):
        return "static player: every frame was rendered when the page was built; a move swaps an image"
    name, ctl = next(iter(explorer.controls.items()))
    values, original = explorer.values[name], ctl.value
    times = []
    for i in range(moves):
        t0 = time.perf_counter()
        ctl.value = values[(i + 1) % len(values)]
        times.append(1000 * (time.perf_counter() - t0))
    ctl.value = original
    return (f"a slider move takes {statistics.median(times):.1f} ms (budget 100 ms); its {explorer.n_frames} "
            f"frames were rendered in {explorer.render_s:.1f} s when the cell ran")


def explore(frame: Frame, *, title: str = "", mode: str | None = None, dpi: int = 72, **controls: Sequence):
    """Show ``frame`` under a control per keyword: ``explore(f, sparsity=[0, .5, .9], layer=["fc1", "fc2"])``.

    ``mode``: ``"live"`` (ipywidgets), ``"static"`` (the build-time player) or ``None`` — static
    when ``COMPANION_STATIC=1`` (the book build), live otherwise. Returns the widget (live) or
    the HTML string (static), after displaying it.
    """
    from IPython.display import HTML, display
    if not callable(frame):
        raise TypeError(f"frame must be a callable returning a matplotlib Figure, got {type(frame).__name__}")
    if mode not in (None, "live", "static"):
        raise ValueError(f"mode must be None, 'live' or 'static', got {mode!r}")
    controls = _check_controls(controls)
    if mode == "static" or (mode is None and static_mode()):
        page = static_player_html(render_frames(frame, controls, dpi), controls, title)
        display(HTML(page))
        return page
    box = _live(frame, controls, title, dpi)
    display(box)
    return box
