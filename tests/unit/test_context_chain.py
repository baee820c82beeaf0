"""Chains of context options (prev_context): which options act at each sigma, against the switching rule of
AnimateDiff-Evolved written here from its documentation, and hand-derived cases."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animatelcm_core.context import ContextOptions
from animatelcm_core.context_chain import ChainTracker, ContextChain, ContextEntry, replay
from animatelcm_core.errors import ContextOptionsError

BIG = 999999999.9  # ComfyUI's percent_to_sigma(0.0)


def chain_of(*entries):
    chain = ContextChain()
    for length, start, guarantee in entries:
        chain = chain.then(ContextEntry(ContextOptions(length, 1), start, guarantee))
    return chain


def lengths(chain, starts, sigmas):
    tracker = ChainTracker(chain, starts)
    return [tracker.chain.entries[tracker.update(s, max(sigmas))].options.length for s in sigmas]


def test_entries_sorted_by_start_keeping_insertion_order():
    chain = chain_of((8, 0.5, 1), (9, 0.0, 1), (10, 0.5, 1), (11, 0.2, 1))
    assert [e.options.length for e in chain.entries] == [9, 11, 8, 10]
    assert chain.first.length == 9


def test_later_entry_takes_over_at_its_sigma():
    chain = chain_of((8, 0.0, 1), (12, 0.5, 1))
    assert lengths(chain, [BIG, 5.0], [14.0, 9.0, 5.0, 2.0]) == [8, 8, 12, 12]


def test_first_entry_acts_from_the_start_whatever_its_start():
    chain = chain_of((8, 0.3, 1), (12, 0.6, 1))
    assert lengths(chain, [9.5, 5.0], [14.0, 9.0, 5.0, 2.0]) == [8, 8, 12, 12]


def test_guarantee_steps_hold_an_entry():
    """An entry reached inside the sampling range stays for its guarantee_steps, even past a later entry's start."""
    chain = chain_of((8, 0.0, 1), (12, 0.2, 3), (16, 0.5, 1))
    assert lengths(chain, [BIG, 12.0, 8.0], [14.0, 11.0, 7.0, 5.0, 3.0, 1.0]) == [8, 12, 12, 12, 16, 16]


def test_entries_starting_before_sampling_have_no_guarantee():
    """Several entries already reached at the first sigma: the last of them acts (their guarantees count as 0)."""
    chain = chain_of((8, 0.0, 5), (12, 0.0, 5), (16, 0.1, 5))
    assert lengths(chain, [BIG, BIG, 20.0], [14.0, 9.0]) == [16, 16]


def test_repeated_sigma_changes_nothing():
    """Two model calls at one sigma (cond and uncond split, Heun's second call) count once."""
    chain = chain_of((8, 0.0, 1), (12, 0.2, 2), (16, 0.4, 1))
    assert lengths(chain, [BIG, 10.5, 8.5], [11.0, 11.0, 9.0, 9.0, 8.0]) == [8, 8, 12, 12, 12]
    assert lengths(chain, [BIG, 10.5, 8.5], [11.0, 9.0, 8.5, 8.0]) == [8, 12, 12, 16]  # counted: on to 16


def test_bad_entries_refused():
    with pytest.raises(ContextOptionsError, match="start_percent must be a number in"):
        ContextChain().then(ContextEntry(ContextOptions(), 1.5))
    with pytest.raises(ContextOptionsError, match="guarantee_steps must be an integer >= 0"):
        ContextChain().then(ContextEntry(ContextOptions(), 0.0, -1))
    with pytest.raises(ContextOptionsError, match="context_overlap"):
        ContextChain().then(ContextEntry(ContextOptions(4, 4)))
    with pytest.raises(ContextOptionsError, match="chain is empty"):
        ContextChain().first


def ref_current(starts, guarantees, sigmas, max_sigma):
    """The documented rule, step by step: the index current at each sigma."""
    index, used, previous, out = 0, 0, None, []
    for sigma in sigmas:
        if sigma != previous:
            g = 0 if starts[index] > max_sigma else guarantees[index]
            if used >= g:
                j = index + 1
                while j < len(starts) and starts[j] >= sigma:
                    index, used = j, 0
                    if (0 if starts[j] > max_sigma else guarantees[j]) > 0:
                        break
                    j += 1
            used += 1
            previous = sigma
        out.append(index)
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, 5), steps=st.integers(1, 12))
def test_property_equals_reference(data, n, steps):
    starts = sorted(data.draw(st.lists(st.sampled_from([BIG, 20.0, 14.0, 9.0, 6.5, 3.0, 1.0]), min_size=n,
                                       max_size=n)), reverse=True)
    guarantees = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    sigmas = sorted(data.draw(st.lists(st.sampled_from([14.0, 11.0, 9.0, 7.5, 6.5, 4.0, 3.0, 1.5, 0.5]),
                                       min_size=steps, max_size=steps)), reverse=True)
    chain = ContextChain(tuple(ContextEntry(ContextOptions(4 + i, 1), i / 10, g) for i, g in enumerate(guarantees)))
    tracker = ChainTracker(chain, starts)
    got = [tracker.update(s, max(sigmas)) for s in sigmas]
    assert got == ref_current(starts, guarantees, sigmas, max(sigmas))
    assert replay(chain, starts, sigmas, max(sigmas)) == got[-1]
