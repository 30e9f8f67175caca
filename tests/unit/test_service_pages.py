"""A list read's page (`ServiceReader._page`): ids ascending above `after`, at most
`limit`, read in batches that start at the page's size and double — so a page reads what it
holds and what its filters pass over, never the whole list."""

from __future__ import annotations

from typing import Any

import pytest

from consortium.apps.service import PAGE_LIMIT, ServiceReader


class Reader(ServiceReader):
    batch_limit = 8

    def __init__(self) -> None:
        super().__init__(lambda address, data: b"")
        self.batches: list[list[int]] = []

    def objects(self, ids: list[int]) -> list[dict[str, Any]]:
        self.batches.append(ids)
        return [{"id": i, "even": i % 2 == 0} for i in ids]


def test_a_page_reads_only_what_it_needs() -> None:
    r = Reader()
    assert [o["id"] for o in r._page(range(1, 101), r.objects, after=10, limit=3)] == [11, 12, 13]
    assert r.batches == [[11, 12, 13]]
    r.batches.clear()
    evens = r._page(range(1, 101), r.objects, limit=5, keep=lambda o: o["even"])
    assert [o["id"] for o in evens] == [2, 4, 6, 8, 10]
    assert [len(b) for b in r.batches] == [5, 8]  # doubling, at most batch_limit
    assert r._page([3, 9, 27], r.objects, after=27) == []
    assert [o["id"] for o in r._page([3, 9, 27], r.objects, after=4)] == [9, 27]


@pytest.mark.parametrize("limit", [0, PAGE_LIMIT + 1])
def test_a_page_size_out_of_range_is_refused(limit: int) -> None:
    r = Reader()
    with pytest.raises(ValueError, match=f"limit must be 1 to {PAGE_LIMIT}, not {limit}"):
        r._page(range(1, 5), r.objects, limit=limit)
