"""FizzNodes' batch prompt schedules -> Prompt Schedule: the texts FizzNodes 1.0.2 encodes per keyframe (written out
here from its rules: pre + " " + prompt + " " + app, one trailing "0" dropped, "--neg" parts to NEG, backtick
expressions evaluated only where FizzNodes evaluates them), the frame count, the latent input, NEG only when used."""
import pytest

from tools.convert import ConversionError, convert_workflow
from tools.convert.report import NOT_REPRODUCED, NOTE


def workflow(text, frames=12, pre="", app="", latent=False, neg_used=True, **extra):
    node = {"class_type": "BatchPromptScheduleLatentInput" if latent else "BatchPromptSchedule",
            "inputs": {"text": text, "clip": ["1", 0], "print_output": False, "pre_text": pre, "app_text": app,
                       "start_frame": 0, "end_frame": 0, **extra}}
    if latent:
        node["inputs"]["num_latents"] = ["3", 0]
    else:
        node["inputs"]["max_frames"] = frames
    wf = {"1": {"class_type": "CLIPLoader", "inputs": {"clip_name": "c.safetensors", "type": "stable_diffusion"}},
          "2": node,
          "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": frames}},
          "4": {"class_type": "KSampler", "inputs": {"positive": ["2", 0], "negative": ["2", 1] if neg_used else ["5", 0],
                                                     "latent_image": ["2", 2] if latent else ["3", 0]}},
          "5": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0], "text": ""}}}
    return wf


def schedules(result):
    p = result.workflow
    pos = p[p["4"]["inputs"]["positive"][0]]
    neg = p[p["4"]["inputs"]["negative"][0]]
    return pos, neg


def parse(text):
    """Our Prompt Schedule's own parser reads what the converter wrote."""
    ps = pytest.importorskip("animatelcm_core.prompt_schedule")
    return {e.index: e.value for e in ps.parse_prompt_schedule(text)}


def test_texts_joined_as_fizznodes_joins_them_and_negatives_split():
    text = '"0": "a red fox --neg blurry",\n"6": "a \\"quoted\\" bird, 1920",\n"10": "frog \\\\(x\\\\)"'
    result = convert_workflow(workflow(text, pre="photo of", app="4k --neg ugly"))
    pos, neg = schedules(result)
    assert pos["class_type"] == neg["class_type"] == "ALCM_PromptSchedule"
    assert (pos["inputs"]["frames"], pos["inputs"]["interpolation"]) == (12, "linear")
    assert (pos["inputs"]["pre_text"], pos["inputs"]["app_text"]) == ("", "")
    assert parse(pos["inputs"]["text"]) == {0: "photo of a red fox  4k ", 6: 'photo of a "quoted" bird, 1920 4k ',
                                            10: "photo of frog \\(x\\) 4k "}
    assert parse(neg["inputs"]["text"]) == {0: "blurry  ugly", 6: "ugly", 10: "ugly"}  # evaluated: stripped
    assert not [e for e in result.report if e.kind == NOT_REPRODUCED]


def test_one_trailing_zero_is_dropped_as_fizznodes_does():
    pos, _ = schedules(convert_workflow(workflow('"0": "a cat in 1920", "4": "dog"', app="")))
    assert parse(pos["inputs"]["text"])[0] == " a cat in 1920 "  # ends with a space: kept
    pos, _ = schedules(convert_workflow(workflow('"0": "a cat", "4": "dog"', app="2020")))
    assert parse(pos["inputs"]["text"]) == {0: " a cat 202", 4: " dog 202"}


def test_expressions_are_evaluated_where_fizznodes_evaluates_them():
    text = '"0": "cat:`pw_a*2`", "max_f/2": "dog:`(1+pw_b)/4`"'
    result = convert_workflow(workflow(text, frames=9, pw_a=0.25, pw_b=1.0, end_frame=9))
    pos, neg = schedules(result)
    assert parse(pos["inputs"]["text"]) == {0: "cat:0.5", 4: "dog:0.5"}  # key max_f/2 = (9-1)//2... int(8/2)
    unevaluated = convert_workflow(workflow(text, frames=9, pw_a=0.25))  # end_frame 0: FizzNodes leaves them
    pos, _ = schedules(unevaluated)
    assert parse(pos["inputs"]["text"])[0] == " cat:`pw_a*2` "
    frame_dependent = convert_workflow(workflow('"0": "cat:`t/10`"', end_frame=12))
    assert any(e.kind == NOT_REPRODUCED and "`t/10`" in str(e.value) for e in frame_dependent.report)


def test_latent_input_and_unused_negative():
    result = convert_workflow(workflow('"0": "a", "8": "b"', latent=True, neg_used=False))
    p = result.workflow
    pos = p[p["4"]["inputs"]["positive"][0]]
    assert pos["inputs"]["latent"] == ["3", 0] and p["4"]["inputs"]["latent_image"] == ["3", 0]
    assert sum(n["class_type"] == "ALCM_PromptSchedule" for n in p.values()) == 1


def test_keys_outside_the_video_and_print_output():
    result = convert_workflow(workflow('"0": "a", "8": "b", "20": "c", "30": "c"', frames=12, print_output=True))
    pos, _ = schedules(result)
    assert set(parse(pos["inputs"]["text"])) == {0, 8}
    lost = [e for e in result.report if e.kind == NOT_REPRODUCED]
    assert len(lost) == 1 and "20" in str(lost[0].value)  # frames 8..11 blend towards key 20; key 30: nothing
    assert any(e.kind == NOTE and e.option == "print_output" for e in result.report)


def test_linked_pre_text_is_connected_and_reported():
    wf = workflow('"0": "a"')
    wf["2"]["inputs"]["pre_text"] = ["6", 0]
    wf["6"] = {"class_type": "StringConstant", "inputs": {"string": "photo"}}
    result = convert_workflow(wf)
    pos, _ = schedules(result)
    assert pos["inputs"]["pre_text"] == ["6", 0]
    assert any(e.kind == NOT_REPRODUCED and e.option == "pre_text" for e in result.report)


@pytest.mark.parametrize("text", ['"0": "a", "x": "b"', '"0": "a" "4": "b"', '"0": 5', ""])
def test_texts_fizznodes_cannot_read_are_refused(text):
    with pytest.raises(ConversionError, match=r"node 2 \(BatchPromptSchedule\)"):
        convert_workflow(workflow(text))


def test_fizznodes_left_alone_when_installed():
    wf = workflow('"0": "a"')
    assert not convert_workflow(wf, available={"BatchPromptSchedule"}).changed
