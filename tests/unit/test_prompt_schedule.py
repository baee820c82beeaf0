"""Tests for animatelcm_core.prompt_schedule: parsing, index resolution, interpolation, blending, value keyframes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from animatelcm_core.errors import PromptScheduleError
from animatelcm_core.keyframes import check_percent_keyframes, keyframe_at_percent, value_at_percent, \
    values_at_percents
from animatelcm_core.prompt_schedule import (
    BLEND_METHODS,
    blend_keyframes,
    frame_pairs,
    join_prompt,
    parse_prompt_schedule,
    parse_value_schedule,
    prompt_keyframes,
    resolve_schedule,
    slerp,
    stack_keyframes,
    value_schedule,
    weight_matrix,
)

ROSE = {0: "a bud", 24: "a blooming rose", 47: "a wilted rose"}


# ---------------------------------------------------------------- parsing: formats

@pytest.mark.parametrize("text", [
    '"0": "a bud",\n"24": "a blooming rose",\n"47": "a wilted rose"',
    '"0": "a bud", "24": "a blooming rose", "47": "a wilted rose",',
    '0 = "a bud"\n24 = "a blooming rose"\n47 = "a wilted rose"',
    '0 = "a bud", 24 = "a blooming rose",\n\n   \n-1 = "a wilted rose",\n',
    '{\n  "0": "a bud",\n  "24": "a blooming rose",\n  "47": "a wilted rose"\n}',
    '{"0": "a bud", "24": "a blooming rose", "-1": "a wilted rose"}',
    "'0': 'a bud', 0.5 = 'a blooming rose', \"-1\" = \"a wilted rose\"",
    '"47": "a wilted rose"\r\n"0": "a bud"\r\n"24": "a blooming rose"\r\n',
    '0: "a bud" ,24 :"a blooming rose",  "0.99" = "a wilted rose"',
], ids=["json-lines", "json-one-line", "pythonic-lines", "pythonic-mixed", "json-object", "json-object-one-line",
        "single-quotes-fraction", "crlf-unsorted", "odd-spacing"])
def test_both_formats_give_the_same_schedule(text):
    """JSON-like and pythonic text, per line or comma-separated, all resolve to the same hand-written schedule."""
    assert prompt_keyframes(text, 48) == ROSE


def test_prompts_keep_commas_parentheses_and_weights():
    """Everything inside the quotes is kept as written, including ComfyUI weight syntax and \\( escapes."""
    text = '"0": "(masterpiece:1.2), a cat, [dog], (red:0.8) hat: x = y", 4 = "emb:foo, \\(literal\\)"'
    assert prompt_keyframes(text, 8) == {0: "(masterpiece:1.2), a cat, [dog], (red:0.8) hat: x = y",
                                         4: "emb:foo, \\(literal\\)"}


def test_escaped_quotes_and_backslashes():
    """\\" and \\\\ are unescaped in double quotes, \\' in single quotes; other escapes stay."""
    text = r'''"0": "a \"quoted\" word \\ end", 1 = 'it\'s "fine"', 2 = 'keep \" as is' '''
    assert prompt_keyframes(text, 3) == {0: 'a "quoted" word \\ end', 1: 'it\'s "fine"', 2: 'keep \\" as is'}
    assert prompt_keyframes('0 = ""', 4) == {0: ""}  # an empty prompt is a valid keyframe


def test_parse_records_keys_lines_and_values():
    """Entries keep their spelling, exact index, value and 1-based line number."""
    entries = parse_prompt_schedule('\n"0": "a",  -3 = "b",\n".25": "c"')
    assert [(e.key, e.index, e.value, e.line) for e in entries] == [
        ("0", 0, "a", 2), ("-3", -3, "b", 2), (".25", pytest.approx(0.25), "c", 3)]
    assert entries[0].text == '"0": "a",  -3 = "b",'
    assert list(prompt_keyframes('-1 = "c", 0.5 = "b", 0 = "a"', 10)) == [0, 5, 9]  # sorted by frame


# ---------------------------------------------------------------- index forms

@pytest.mark.parametrize("key,num_frames,frame", [
    ("0", 48, 0), ("47", 48, 47), ("+5", 48, 5), ("-1", 48, 47), ("-48", 48, 0), ("-2", 10, 8),
    ("0.5", 48, 24),    # the middle frame: floor(0.5 * 48)
    ("0.5", 5, 2),      # floor(2.5)
    ("0.25", 10, 2),    # floor(2.5)
    (".29", 100, 29),   # exact decimal: 0.29 * 100 in floats is 28.999999999999996
    ("0.999", 10, 9),   # floor(9.99)
    ("0.9", 10, 9),     # floor(9.0), not round(0.9 * 9) = 8
    ("0.75", 4, 3),     # floor(3.0), not round(0.75 * 3) = 2
    ("0.57", 100, 57),  # exact decimal: 0.57 * 100 in floats is 56.99999999999999
    ("0.0", 7, 0), ("0.", 7, 0), ("0.9", 1, 0),
])
def test_index_forms(key, num_frames, frame):
    """Integers, negative integers from the end and fractions floor(f * N), bare or quoted."""
    assert prompt_keyframes(f'"{key}": "p"', num_frames) == {frame: "p"}
    assert prompt_keyframes(f'{key} = "p"', num_frames) == {frame: "p"}


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("text,line_no,line_text,reason", [
    ('0 = "a"\n\n2 = a bud', 3, '2 = a bud', "must be in quotes"),
    ('"0": "a bud', 1, '"0": "a bud', "cannot parse"),
    ('"0" "a"', 1, '"0" "a"', "cannot parse"), ('"0": "a" "8": "b"', 1, '"0": "a" "8": "b"', "cannot parse"),
    ('0 = "a",\n,', 2, ',', "cannot parse"), ('0 = "a",,', 1, '0 = "a",,', "cannot parse"),
    ('0 = "a"\n"abc": "b"', 2, '"abc": "b"', "'abc' is not a frame index"),
    ('1.5 = "a"', 1, '1.5 = "a"', "fraction outside [0, 1)"), ('"1.0": "a"', 1, '"1.0": "a"', "fraction outside"),
    ('-0.5 = "a"', 1, '-0.5 = "a"', "not a frame index"),
    ('{\n"0": "a",\n"8" "b"\n}', 3, '"8" "b"', "cannot parse"),
    ('just some words', 1, 'just some words', "cannot parse"),
])
def test_unparsable_line_names_line_number_and_text(text, line_no, line_text, reason):
    """A bad line is reported with its 1-based number, its text and why."""
    with pytest.raises(PromptScheduleError) as err:
        prompt_keyframes(text, 16)
    message = str(err.value)
    assert f"line {line_no}:" in message and repr(line_text) in message and reason in message


@pytest.mark.parametrize("key", ["48", "-49", "100"])
def test_index_out_of_range(key):
    """An index outside [-N, N) names the index, the length and the valid range."""
    with pytest.raises(PromptScheduleError) as err:
        prompt_keyframes(f'0 = "a"\n{key} = "b"', 48)
    message = str(err.value)
    assert f"frame index {key} is out of range for 48 frames" in message
    assert "0..47" in message and "-48..-1" in message and "line 2" in message


@pytest.mark.parametrize("text,first,second,frame", [
    ('"0": "a", "-48": "b"', "'0' (line 1)", "'-48' (line 1)", 0),
    ('"24": "a"\n0.5 = "b"', "'24' (line 1)", "'0.5' (line 2)", 24),
    ('-1 = "a"\n\n47 = "b"', "'-1' (line 1)", "'47' (line 3)", 47),
    ('3 = "a", 3 = "b"', "'3' (line 1)", "'3' (line 1)", 3),
])
def test_duplicate_frames_name_both_spellings(text, first, second, frame):
    """Two keys that resolve to the same frame are an error naming both keys and the frame."""
    with pytest.raises(PromptScheduleError) as err:
        prompt_keyframes(text, 48)
    message = str(err.value)
    assert first in message and second in message and f"frame {frame} of 48" in message


@pytest.mark.parametrize("text", ["", "\n  \n", "{}", " { \n } "])
def test_empty_schedule(text):
    """No entries at all is an error."""
    with pytest.raises(PromptScheduleError, match="prompt schedule is empty"):
        prompt_keyframes(text, 16)


@pytest.mark.parametrize("num_frames", [0, -3, True, 2.0, "16", None])
def test_bad_frame_count(num_frames):
    """The frame count must be an integer >= 1, checked before the text is even parsed."""
    with pytest.raises(PromptScheduleError, match="number of frames"):
        prompt_keyframes("not a schedule at all", num_frames)


def test_resolver_and_value_schedule_check_their_inputs():
    """resolve_schedule and value_schedule check the frame count too; the text must be a string."""
    with pytest.raises(PromptScheduleError, match="at least 1, got 0"):
        resolve_schedule(parse_prompt_schedule('0 = "a"'), 0)
    with pytest.raises(PromptScheduleError, match="effect: the number of frames"):
        value_schedule("0: 1.0", 0, what="effect")
    with pytest.raises(PromptScheduleError, match="must be text"):
        parse_prompt_schedule(None)


# ---------------------------------------------------------------- prepend / append

@pytest.mark.parametrize("pre,prompt,app,expected", [
    ("", "a bud", "", "a bud"), ("  ", " a bud ", "\n", "a bud"), ("pre", "", "app", "pre, app"), ("", "", "", ""),
    ("masterpiece, best quality,", "a bud", "", "masterpiece, best quality, a bud"),
    ("", "a bud", ", 4k, sharp ", "a bud, 4k, sharp"), ("(style:1.2)", "a bud,", "", "(style:1.2), a bud,")])
def test_join_prompt(pre, prompt, app, expected):
    """Non-empty stripped parts joined with ', '; pre/app lose edge commas, the prompt keeps its own."""
    assert join_prompt(pre, prompt, app) == expected


def test_prompt_keyframes_apply_pre_and_app_to_every_prompt():
    """Every keyframe prompt gets the same prepended and appended text."""
    assert prompt_keyframes('0 = "a bud", -1 = "a rose"', 8, "photo of", "detailed") == {
        0: "photo of, a bud, detailed", 7: "photo of, a rose, detailed"}


# ---------------------------------------------------------------- interpolation weights

def _numpy_weights(keyframes, num_frames):
    """Independent per-frame linear weights: hold outside, (i - a) / (b - a) between a < b."""
    w = np.zeros((num_frames, len(keyframes)))
    for i in range(num_frames):
        j = int(np.searchsorted(keyframes, i, side="right")) - 1  # last keyframe at or before i
        if j < 0 or j == len(keyframes) - 1 or keyframes[j] == i:
            w[i, max(j, 0)] = 1.0
        else:
            a, b = keyframes[j], keyframes[j + 1]
            w[i, j], w[i, j + 1] = (b - i) / (b - a), (i - a) / (b - a)
    return w


def test_frame_pairs_hand_written():
    """Keyframes at 2, 6 and 8 on 10 frames, per frame (ka, kb, t)."""
    assert frame_pairs([2, 6, 8], 10) == [
        (0, 0, 0.0), (0, 0, 0.0), (0, 0, 0.0), (0, 1, 0.25), (0, 1, 0.5), (0, 1, 0.75),
        (1, 1, 0.0), (1, 2, 0.5), (2, 2, 0.0), (2, 2, 0.0)]


@pytest.mark.parametrize("keyframes,num_frames", [
    ([0], 1), ([0], 9), ([5], 9), ([0, 24, 47], 48), ([3, 4, 10, 31], 40), ([0, 1, 2, 3], 4), ([7, 12], 13)])
def test_weight_matrix_matches_formula(keyframes, num_frames):
    """The dense weight matrix equals the formula computed independently with numpy."""
    np.testing.assert_allclose(weight_matrix(keyframes, num_frames).numpy(), _numpy_weights(keyframes, num_frames),
                               rtol=0, atol=1e-15)


def test_linear_blend_equals_weight_matrix_product():
    """blend_keyframes(linear) gives W @ E per frame."""
    torch.manual_seed(0)
    emb = torch.randn(3, 5, 8, dtype=torch.float64)
    keyframes, n = [2, 9, 20], 24
    out = blend_keyframes(emb, keyframes, n, "linear")
    expected = np.einsum("fk,ktd->ftd", _numpy_weights(keyframes, n), emb.numpy())
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("keyframes,num_frames", [([0, 8], 8), ([2, 2], 8), ([3, 1], 8), ([], 8)])
def test_bad_keyframe_positions(keyframes, num_frames):
    """Keyframe positions must be strictly increasing frames of the video."""
    with pytest.raises(PromptScheduleError):
        frame_pairs(keyframes, num_frames)


# ---------------------------------------------------------------- blending tensors

def _numpy_slerp(a, b, t):
    """Independent slerp of one vector pair: great-circle direction, linear magnitude, lerp when near-parallel."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0)
    if abs(cos) > 0.9995:
        return (1 - t) * a + t * b
    omega = np.arccos(cos)
    direction = (np.sin((1 - t) * omega) * a / na + np.sin(t * omega) * b / nb) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def test_slerp_matches_numpy_per_token():
    """Spherical blending matches an independent numpy slerp for every token vector."""
    torch.manual_seed(1)
    emb = torch.randn(2, 6, 16, dtype=torch.float64)
    emb[1, 0] = emb[0, 0] * 3.0          # parallel token: lerp fallback
    emb[1, 1] = -emb[0, 1]               # opposite token: lerp fallback
    emb[1, 2] = emb[0, 2]                # identical token
    out = blend_keyframes(emb, [0, 4], 5, "spherical").numpy()
    e = emb.numpy()
    for i, t in ((1, 0.25), (2, 0.5), (3, 0.75)):
        for tok in range(6):
            np.testing.assert_allclose(out[i, tok], _numpy_slerp(e[0, tok], e[1, tok], t), rtol=1e-10, atol=1e-12)


def test_slerp_textbook_formula_for_equal_norms():
    """|a| = |b|: sin((1-t)W)/sin(W) a + sin(tW)/sin(W) b, e.g. 90 degrees at t = 1/2 or 1/3; and it is not lerp."""
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    torch.testing.assert_close(slerp(a, b, 0.5), torch.tensor([[2 ** 0.5, 2 ** 0.5]]))
    torch.testing.assert_close(slerp(a, b, 1 / 3), torch.tensor([[3 ** 0.5, 1.0]]))
    emb = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(blend_keyframes(emb, [0, 2], 3, "spherical")[1],
                              blend_keyframes(emb, [0, 2], 3, "linear")[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("method", BLEND_METHODS)
def test_blend_keeps_dtype_and_copies_keyframes_exactly(dtype, method):
    """Output has the input dtype; keyframe and held frames are bitwise copies."""
    torch.manual_seed(3)
    emb = (torch.randn(3, 7, 12) * 20).to(dtype)
    keyframes = [1, 5, 6]
    out = blend_keyframes(emb, keyframes, 9, method)
    assert out.dtype == dtype and out.shape == (9, 7, 12)
    for frame, k in ((0, 0), (1, 0), (5, 1), (6, 2), (7, 2), (8, 2)):
        assert torch.equal(out[frame], emb[k]), frame


def test_blend_pooled_vectors():
    """Pooled outputs (K, dim) blend the same way as token embeddings."""
    pooled = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = blend_keyframes(pooled, [0, 2], 3, "linear")
    assert out.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert blend_keyframes(pooled, [0, 2], 3, "spherical").shape == (3, 2)


def test_blend_errors():
    """Unknown method, wrong keyframe count and scalars for slerp are rejected."""
    emb = torch.zeros(2, 3, 4)
    with pytest.raises(PromptScheduleError, match="unknown interpolation 'cubic'"):
        blend_keyframes(emb, [0, 1], 4, "cubic")
    with pytest.raises(PromptScheduleError, match="3 keyframes"):
        blend_keyframes(emb, [0, 1, 2], 4)
    with pytest.raises(PromptScheduleError, match="needs vectors"):
        blend_keyframes(torch.zeros(2), [0, 1], 4, "spherical")


def test_stack_keyframes():
    """(1, T, D) per keyframe stack to (K, T, D); different token counts are a clear error."""
    a, b = torch.zeros(1, 77, 8), torch.ones(1, 77, 8)
    assert stack_keyframes([a, b]).shape == (2, 77, 8)
    with pytest.raises(PromptScheduleError) as err:
        stack_keyframes([a, torch.zeros(1, 154, 8)], frames=[0, 24])
    assert "frame 0 (1, 77, 8)" in str(err.value) and "frame 24 (1, 154, 8)" in str(err.value)
    with pytest.raises(PromptScheduleError, match="batch of 1"):
        stack_keyframes([torch.zeros(2, 77, 8)])
    with pytest.raises(PromptScheduleError, match="no keyframe"):
        stack_keyframes([])


# ---------------------------------------------------------------- property test

@st.composite
def schedules(draw):
    """A random valid schedule: text in a random format, its expected {frame: prompt} and the frame count."""
    num_frames = draw(st.integers(1, 40))
    frames = draw(st.lists(st.integers(0, num_frames - 1), min_size=1, max_size=6, unique=True))
    prompts = draw(st.lists(st.text(alphabet='ab ,():.=1-"\\\'', max_size=12),
                            min_size=len(frames), max_size=len(frames)))
    entries = []
    for frame, prompt in zip(frames, prompts):
        form = draw(st.sampled_from(["int", "neg", "frac"]))
        up = -(-frame * 10 ** 12 // num_frames)  # ceil(frame / N * 1e12): floor(0.up * N) == frame
        key = {"int": str(frame), "neg": str(frame - num_frames), "frac": f"0.{up:012d}"}[form]
        key = f'"{key}"' if draw(st.booleans()) else key
        sep = draw(st.sampled_from([": ", " = ", ":", "="]))
        entries.append(key + sep + '"' + prompt.replace("\\", "\\\\").replace('"', '\\"') + '"')
    joiner = draw(st.sampled_from([",\n", "\n", ", ", ",\n\n"]))
    text = joiner.join(entries) + draw(st.sampled_from(["", ",", ",\n", "\n"]))
    if draw(st.booleans()):
        text = "{\n" + text + "\n}"
    return text, dict(zip(frames, prompts)), num_frames


@settings(max_examples=150, deadline=None)
@given(schedules(), st.sampled_from(BLEND_METHODS))
def test_every_frame_gets_one_embedding_and_keyframes_are_exact(schedule, method):
    """Any valid schedule parses to its prompts; one row per frame; keyframe rows equal their embedding exactly."""
    text, expected, num_frames = schedule
    keyframes = resolve_schedule(parse_prompt_schedule(text), num_frames)
    assert keyframes == dict(sorted(expected.items()))
    frames = list(keyframes)
    gen = torch.Generator().manual_seed(len(text))
    emb = torch.randn(len(frames), 3, 4, generator=gen)
    pooled = torch.randn(len(frames), 4, generator=gen)
    out, out_pooled = (blend_keyframes(x, frames, num_frames, method) for x in (emb, pooled))
    assert out.shape == (num_frames, 3, 4) and out_pooled.shape == (num_frames, 4)
    for k, frame in enumerate(frames):
        assert torch.equal(out[frame], emb[k]) and torch.equal(out_pooled[frame], pooled[k])
    assert torch.isfinite(out).all()


# ---------------------------------------------------------------- keyframed values per frame

@pytest.mark.parametrize("text", [
    "0: 0.0, 8: 1.0", '"0": 0.0,\n"8": 1', '0 = 0.0\n-8 = 1.0', '{"0": "0", "0.5": "1e0"}', "0: .0, 8: +1.,"])
def test_value_schedule_hand_written(text):
    """0 at frame 0 rising linearly to 1 at frame 8, then held, on 16 frames."""
    expected = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875] + [1.0] * 8
    assert value_schedule(text, 16).tolist() == expected


def test_value_schedule_holds_before_first_keyframe():
    """Before the first keyframe the first value holds; keyframe values are exact float32."""
    out = value_schedule("2: 0.3, 4: -0.7", 6)
    assert out.dtype == torch.float32
    assert out.tolist() == pytest.approx([0.3, 0.3, 0.3, -0.2, -0.7, -0.7], abs=1e-7)
    assert out[2].item() == torch.tensor(0.3).item() and out[4].item() == torch.tensor(-0.7).item()
    assert [e.value for e in parse_value_schedule("0 = 1, -1 = '0.5'")] == [1.0, 0.5]


@pytest.mark.parametrize("text,reason", [
    ("0: abc", "'abc' is not a number"), ('0: "a bud"', "'a bud' is not a number"), ("0: nan", "not a number"),
    ("0: 1e999", "not finite"), ("0: 1.0 8: 2.0", "'1.0 8: 2.0' is not a number"), ("0: 1,, 2: 3", "cannot parse")])
def test_value_schedule_errors(text, reason):
    """Non-numeric or non-finite values are line errors naming the schedule."""
    with pytest.raises(PromptScheduleError) as err:
        value_schedule(text, 16, what="effect schedule")
    assert str(err.value).startswith("effect schedule line 1:") and reason in str(err.value)


# ---------------------------------------------------------------- keyframes over sampling

def test_percent_keyframes_hold_until_the_next():
    """Each keyframe holds from its start percent until the next one; before the first, the first holds."""
    keyframes = [(0.5, "b"), (0.2, "a"), (0.9, "c")]
    assert check_percent_keyframes(keyframes) == [(0.2, "a"), (0.5, "b"), (0.9, "c")]
    percents = [0.0, 0.1, 0.2, 0.49, 0.5, 0.51, 0.89, 0.9, 1.0]
    assert values_at_percents(keyframes, percents) == ["a", "a", "a", "a", "b", "b", "b", "c", "c"]
    assert keyframe_at_percent(keyframes, 0.5) == 1 and value_at_percent([(0, 1.0)], 0.7) == 1.0
    with pytest.raises(PromptScheduleError, match="sampling percent"):
        value_at_percent([(0.0, 1.0)], 1.2)


@pytest.mark.parametrize("keyframes,match", [
    ([], "no keyframes"), ([(1.5, 1.0)], "must be a number in"), ([(-0.1, 1.0)], "must be a number in"),
    ([(float("nan"), 1.0)], "must be a number in"), ([("0.5", 1.0)], "must be a number in"),
    ([(0.5, 1.0), (0.5, 2.0)], "two keyframes start at percent 0.5")])
def test_percent_keyframe_errors(keyframes, match):
    """Empty lists, percents outside [0, 1] and duplicate percents are errors."""
    with pytest.raises(PromptScheduleError, match=match):
        value_at_percent(keyframes, 0.5)
