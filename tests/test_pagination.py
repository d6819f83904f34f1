"""Cursor pagination: stable, complete, bounded, and tokens that only fit their list."""

from __future__ import annotations

import pytest

from shipyard.client import Client
from shipyard.errors import InvalidArgument
from shipyard.store.pagination import decode_token, encode_token


def test_pages_cover_everything_once(any_client: Client) -> None:
    names = [f"p{i:03d}" for i in range(23)]
    for name in names:
        any_client.create_project(name)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = any_client.list_projects(max_results=5, page_token=token)
        assert len(page.items) <= 5
        seen.extend(p.name for p in page.items)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 5  # 24 projects (with default) / 5 per page
    assert seen == sorted(["default", *names])
    assert [p.name for p in any_client.iter_projects()] == seen


def test_exact_multiple_has_no_empty_last_page(any_client: Client) -> None:
    for i in range(3):
        any_client.create_project(f"q{i}")
    first = any_client.list_projects(max_results=2)
    second = any_client.list_projects(max_results=2, page_token=first.next_page_token)
    assert len(second.items) == 2
    assert second.next_page_token is None


def test_blob_listing_is_newest_first_across_pages(any_client: Client) -> None:
    digests = [any_client.upload_blob(f"blob {i}".encode()).digest for i in range(7)]
    listed: list[str] = []
    token = None
    while True:
        page = any_client.list_blobs(max_results=3, page_token=token)
        listed.extend(b.digest for b in page.items)
        token = page.next_page_token
        if not token:
            break
    assert sorted(listed) == sorted(digests)
    assert len(listed) == len(set(listed)) == 7


def test_max_results_is_bounded(any_client: Client) -> None:
    for bad in (0, -1, 1001):
        with pytest.raises(InvalidArgument) as info:
            any_client.list_projects(max_results=bad)
        assert info.value.details["field"] == "max_results"
    assert any_client.list_projects(max_results=1000).items


def test_token_from_another_list_is_refused(any_client: Client) -> None:
    for i in range(3):
        any_client.upload_blob(f"x{i}".encode())
    blob_token = any_client.list_blobs(max_results=1).next_page_token
    assert blob_token
    with pytest.raises(InvalidArgument) as info:
        any_client.list_projects(page_token=blob_token)
    assert info.value.details["field"] == "page_token"


def test_token_round_trip_and_tamper() -> None:
    token = encode_token("projects", ["abc"])
    assert decode_token("projects", token, 1) == ["abc"]
    with pytest.raises(InvalidArgument):
        decode_token("projects", token[:-2] + "zz", 1)
    with pytest.raises(InvalidArgument):
        decode_token("blobs:x", token, 1)
    with pytest.raises(InvalidArgument):
        decode_token("projects", token, 2)
