import pytest

from companion import exercises, models, plotting, widgets
from companion import why_compress as cost  # chapter 1's module (was companion.cost)
from companion.accelerator import energy


def test_check_states(capsys):
    exercises.check("ch0.digit_bytes", None)
    assert "not answered" in capsys.readouterr().out
    exercises.check("ch0.digit_bytes", 98)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(exercises.ExerciseError, match="Hint"):
        exercises.check("ch0.digit_bytes", 784)
    with pytest.raises(exercises.ExerciseError, match="number"):
        exercises.check("ch0.digit_bytes", "lots")
    with pytest.raises(KeyError):
        exercises.check("ch0.nope", 1)


def test_chapter1_exercise_module_is_registered():
    """companion.exercises must import chapter 1's module (renamed from companion.cost) lazily.
    Needs `"ch1": "companion.why_compress"` in companion/exercises.py's _CHAPTER_MODULES."""
    import importlib
    assert importlib.import_module(exercises._CHAPTER_MODULES["ch1"]) is cost


def test_chapter1_exercises_have_working_solutions():
    ids = [e.id for e in exercises.exercises() if e.id.startswith("ch1.")]
    assert len(ids) >= 3
    t = models.layer_table("vgg16")
    exercises.check("ch1.vgg_fc6_params", 25088 * 4096 + 4096)
    exercises.check("ch1.vgg_fc_share", sum(l.params for l in t if l.type == "fc") / t.params)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch1.vgg_fc_share", 0.5)


def test_checker_builders():
    same = exercises.same_function(lambda a: a * 2, lambda: [(1,), (3,)], hint="double it")
    same(lambda a: a + a)
    with pytest.raises(exercises.ExerciseError, match="double"):
        same(lambda a: a + 1)
    with pytest.raises(exercises.ExerciseError, match="raised"):
        same(lambda a: 1 / 0)
    vals = exercises.same_values(lambda: [1, 2, 3])
    vals([1, 2, 3])
    with pytest.raises(exercises.ExerciseError, match="shape"):
        vals([1, 2])
    exercises.one_of("ws", normalize=str.lower)("WS")
    with pytest.raises(ValueError):
        exercises.register("bad id", "p", vals)


def _frame(a=1, b="x"):
    fig, ax = plotting.new_figure()
    ax.plot([0, a])
    ax.set_title(b)
    return fig


def test_static_player_has_every_frame():
    frames = widgets.render_frames(_frame, {"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(frames) == 6 and all(v[:4] == b"\x89PNG" for v in frames.values())
    html = widgets.static_player_html(frames, {"a": [1, 2], "b": ["x", "y", "z"]}, title="t")
    assert html.count("<select") == 1 and html.count('type="range"') == 1
    assert html.count("iVBOR") == 6 + 1  # six frames in the table + the first one shown
    assert "http" not in html


def test_live_widget_redraws():
    box = widgets.explore(_frame, mode="live", a=[1, 2, 3], b=["x", "y"])
    first = box.image.value
    box.controls["a"].value = 3
    assert box.image.value != first and box.image.value[:4] == b"\x89PNG"
    assert box.image.value == widgets.render_frames(_frame, {"a": [3], "b": ["x"]})[(3, "x")]
    assert "ms" in box.children[-1].value


def test_explore_bad_input():
    with pytest.raises(ValueError):
        widgets.explore(_frame)
    with pytest.raises(TypeError):
        widgets.explore(_frame, a=5)
    with pytest.raises(TypeError):
        widgets.explore("frame", a=[1])
    with pytest.raises(ValueError):
        widgets.explore(_frame, mode="web", a=[1])
    with pytest.raises(ValueError):
        widgets.explore(_frame, a=list(range(30)), b=list(range(30)))


def test_static_mode_env(monkeypatch):
    monkeypatch.setenv("COMPANION_STATIC", "1")
    out = widgets.explore(_frame, a=[1, 2])
    assert isinstance(out, str) and "companion-player" in out


def test_one_energy_table_for_chapters_1_and_7():
    """Issue 15: an int8 MAC cost 0.23 pJ in chapter 1 and 0.30 pJ in chapter 7."""
    table = energy.default_energy_table()
    for bits in (1, 2, 4, 8, 16):
        assert cost.mac_pj(bits) == pytest.approx(table.mac_pj(bits, bits, 32))
    assert cost.mac_pj(8) == pytest.approx(0.2 + 0.1)  # Horowitz int8 mult + int32 accumulate
    assert cost.energy_table() == dict(energy.HOROWITZ_45NM_PJ)
    assert cost.access_energy_ratios() == dict(energy.EYERISS_RELATIVE_ENERGY)
    # chapter 1's SRAM and DRAM terms use the same per-bit energies as the accelerator model
    row = cost.layer_costs("alexnet", 8)[0]
    assert row.dram_pj == pytest.approx((row.weight_bytes + row.activation_bytes) * 8 * table.dram_pj_per_bit)
    assert row.sram_pj == pytest.approx(2 * row.macs * 8 * table.sram_pj_per_bit)
    cost.energy_table()[("add", "int", 8)] = 99.0  # a caller's copy cannot change the book's table
    assert energy.HOROWITZ_45NM_PJ[("add", "int", 8)] == 0.03


def test_energy_table_is_horowitz_and_eyeriss():
    h = energy.HOROWITZ_45NM_PJ
    assert (h[("add", "int", 8)], h[("mult", "int", 8)], h[("mult", "float", 32)], h[("add", "float", 32)],
            h[("sram_read", "word", 32)], h[("dram_read", "word", 32)]) == (0.03, 0.2, 3.7, 0.9, 5.0, 640.0)
    e = energy.EYERISS_RELATIVE_ENERGY
    assert (e["register_file"], e["neighbour_pe"], e["global_buffer"], e["dram"]) == (1, 2, 6, 200)
    t = energy.default_energy_table()
    assert t.rf_pj_per_bit == pytest.approx(5 / 32 / 6) and t.hop_pj_per_bit == pytest.approx(2 * 5 / 32 / 6)
    with pytest.raises(TypeError):
        energy.mac_energy_pj("8")
    with pytest.raises(ValueError, match="dtype"):
        energy.mac_energy_pj(8, dtype="fixed")
    with pytest.raises(ValueError, match="16x16 and 32x32"):
        energy.mac_energy_pj(16, 32, dtype="float")


def test_embedded_energy_csvs_agree_with_the_table():
    """data/energy_45nm.csv and data/eyeriss_access_energy.csv are provenance copies: they must not drift."""
    from companion import data
    for r in data.read_csv_table("energy_45nm.csv"):
        assert energy.HOROWITZ_45NM_PJ[(r["operation"], r["dtype"], int(r["bits"]))] == float(r["energy_pj"])
    for r in data.read_csv_table("eyeriss_access_energy.csv"):
        assert energy.EYERISS_RELATIVE_ENERGY[r["level"]] == float(r["relative_energy"])


def test_mac_energy_scaling_matches_table():
    assert cost.mac_pj(8) == pytest.approx(0.3)
    assert cost.mac_pj(32, "float") == pytest.approx(4.6)
    # the bits² model extrapolated from int8 lands near Horowitz's int32 multiply
    assert 0.2 * 16 == pytest.approx(cost.energy_table()[("mult", "int", 32)], rel=0.05)
    assert cost.mac_pj(4) < cost.mac_pj(8) < cost.mac_pj(16, "int")
    with pytest.raises(ValueError):
        cost.mac_pj(0)
    with pytest.raises(ValueError):
        cost.mac_pj(8, "float")
    with pytest.raises(TypeError):
        cost.mac_pj(8.0)


def test_energy_breakdown_sums_and_fewer_bits_cost_less():
    for name in models.TABLE_NAMES:
        r32, r8 = cost.layer_costs(name, 32), cost.layer_costs(name, 8)
        e32, e8 = cost.energy_breakdown_pj(r32), cost.energy_breakdown_pj(r8)
        assert sum(e32.values()) == pytest.approx(sum(r.energy_pj for r in r32))
        assert all(e8[k] < e32[k] for k in e32)


def test_roofline():
    assert cost.ridge_point(100, 10) == 10
    assert cost.roofline_macs_per_s(5, 100, 10) == 50
    assert cost.roofline_macs_per_s(50, 100, 10) == 100
    with pytest.raises(ValueError):
        cost.roofline_macs_per_s(-1, 100, 10)
    with pytest.raises(ValueError):
        cost.ridge_point(0, 10)


HOSTILE = ["</script><script>alert(1)</script>", "<!--", "</SCRIPT >", 'say "hi" & \'bye\'',
           "line\u2028sep\u2029x", "<img src=x onerror=alert(1)>", "]};alert(1);//"]


def _player_labels(page: str):
    import json
    start = page.index("labels=") + len("labels=")
    return json.JSONDecoder().raw_decode(page[start:])[0]


def test_static_player_escapes_hostile_labels_and_title():
    import html as _html
    import re
    controls = {"b": HOSTILE, "</script>": [1, 2]}
    frames = {(b, a): b"\x89PNG" + bytes([i]) for i, (b, a) in enumerate((b, a) for b in HOSTILE for a in (1, 2))}
    page = widgets.static_player_html(frames, controls, title="</script><!-- \u2028 title")
    # exactly one script element, opened and closed once (any case, any whitespace)
    assert len(re.findall(r"<script", page, re.I)) == 1 and len(re.findall(r"</script", page, re.I)) == 1
    script = page[page.index("<script>"):page.index("</script>")]
    assert "<!--" not in script and "\u2028" not in page and "\u2029" not in page
    # the labels survive the escaping: parsing the embedded JSON gives the values back
    assert _player_labels(page) == [HOSTILE, ["1", "2"]]
    # in the markup every label, the title and the control name appear only escaped
    markup = page[:page.index("<script>")]
    assert "<img src=x" not in markup and _html.escape(HOSTILE[5]) in markup
    assert "</script>" not in markup and "<!--" not in markup


def test_script_json_round_trips_any_text():
    import json
    from hypothesis import given, strategies as st

    @given(st.lists(st.text()))
    def check(texts):
        s = widgets._script_json(texts)
        assert "<" not in s and ">" not in s and "\u2028" not in s
        assert json.loads(s) == texts

    check()
