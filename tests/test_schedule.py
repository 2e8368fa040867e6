"""The xdist order of tests/conftest.py: every collected test runs exactly once, each worker's
first chunk starts with the long modules, and a module is never split between two chunks unless
it is an unlisted (short) one at a chunk's end."""

from __future__ import annotations

from types import SimpleNamespace

from conftest import MODULE_COST_S, xdist_order


def _items(counts: dict[str, int]) -> list:
    return [SimpleNamespace(nodeid=f"{m}::t{i}") for m, n in counts.items() for i in range(n)]


def _chunks(order: list, workers: int) -> list[list[str]]:
    out, left, start = [], len(order), 0
    for i in range(workers):  # the sizes xdist's worksteal scheduler hands out first
        size = left // (workers - i)
        out.append([it.nodeid.split("::")[0] for it in order[start : start + size]])
        start, left = start + size, left - size
    return out


def test_xdist_order_is_a_permutation_with_long_modules_first_and_whole():
    long = sorted(MODULE_COST_S, key=lambda m: -MODULE_COST_S[m])[:6]
    counts = {"tests/test_a.py": 40, long[0]: 9, "tests/test_b.py": 25, **{m: 3 for m in long[1:]}}
    counts["tests/test_c.py"] = 30
    items = _items(counts)
    for workers in (2, 3):
        order = xdist_order(items, workers)
        assert sorted(i.nodeid for i in order) == sorted(i.nodeid for i in items)
        chunks = _chunks(order, workers)
        for chunk in chunks:
            assert chunk[0] in long  # every worker starts on a long module
            seen = [m for j, m in enumerate(chunk) if j == 0 or chunk[j - 1] != m]
            assert len(seen) == len(set(seen))  # contiguous within a chunk
            firsts = [m for m in seen if m in MODULE_COST_S]
            assert firsts == seen[: len(firsts)]  # long modules before the short ones
        for m in long:
            assert sum(m in chunk for chunk in chunks) == 1  # a long module is not split
        # the longest module opens the first chunk; the order within a module is kept
        assert chunks[0][0] == long[0]
        ids = [i.nodeid for i in order if i.nodeid.startswith("tests/test_a.py")]
        assert ids == [f"tests/test_a.py::t{i}" for i in range(40)]


def test_xdist_order_keeps_the_collection_when_a_chunk_cannot_hold_a_module():
    long = max(MODULE_COST_S, key=MODULE_COST_S.get)
    items = _items({long: 10, "tests/test_a.py": 2})
    assert xdist_order(items, 2) == items
