import pytest

from companion import cost, exercises, models, plotting, widgets


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


def test_chapter1_exercises_have_working_solutions():
    ids = [e.id for e in exercises.exercises("ch1")]
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


def test_mac_energy_scaling_matches_table():
    assert cost.mac_energy_pj(8) == pytest.approx(0.23)
    assert cost.mac_energy_pj(32, "float") == pytest.approx(4.6)
    # the bits² model extrapolated from int8 lands near Horowitz's int32 multiply
    assert 0.2 * 16 == pytest.approx(cost.energy_table()[("mult", "int", 32)], rel=0.05)
    assert cost.mac_energy_pj(4) < cost.mac_energy_pj(8) < cost.mac_energy_pj(16, "int")
    with pytest.raises(ValueError):
        cost.mac_energy_pj(0)
    with pytest.raises(ValueError):
        cost.mac_energy_pj(8, "float")
    with pytest.raises(TypeError):
        cost.mac_energy_pj(8.0)


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
