"""Layered positions: layers follow dependencies, rows do not overlap, cycles are survived."""

from __future__ import annotations

import random

from flowrec.layout import (
    LABEL_LIMIT,
    LayoutNode,
    layered_layout,
    node_size,
    short_label,
)


def chain(count: int) -> tuple[list[LayoutNode], list[tuple[str, str]]]:
    nodes = [LayoutNode(f"s{i}", f"stage {i}") for i in range(count)]
    return nodes, [(f"s{i}", f"s{i + 1}") for i in range(count - 1)]


def test_each_node_sits_below_its_upstream_nodes():
    nodes = [LayoutNode(key, key) for key in ("load", "clean", "split", "train", "evaluate")]
    edges = [("load", "clean"), ("clean", "split"), ("split", "train"), ("train", "evaluate"),
             ("split", "evaluate"), ("load", "evaluate")]
    layout = layered_layout(nodes, edges)
    layers = {key: placed.layer for key, placed in layout.nodes.items()}
    assert layers == {"load": 0, "clean": 1, "split": 2, "train": 3, "evaluate": 4}
    for source, target in edges:
        assert layout.nodes[source].y < layout.nodes[target].y


def test_long_edges_bend_through_each_layer_they_cross():
    nodes = [LayoutNode(key, key) for key in ("a", "b", "c", "d")]
    layout = layered_layout(nodes, [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    route = next(route for route in layout.routes if (route.source, route.target) == ("a", "d"))
    assert len(route.points) == 4  # leaves a, crosses the layers of b and c, reaches d
    ys = [point[1] for point in route.points]
    assert ys == sorted(ys)


def test_boxes_in_a_row_never_overlap():
    random.seed(3)
    nodes = [LayoutNode(f"n{i}", "x" * random.randint(1, 40), small=i % 4 == 0)
             for i in range(120)]
    edges = [(f"n{random.randrange(j)}", f"n{j}") for j in range(1, 120) for _ in range(2)]
    layout = layered_layout(nodes, edges)
    rows: dict[int, list] = {}
    for placed in layout.nodes.values():
        rows.setdefault(placed.layer, []).append(placed)
    for row in rows.values():
        row.sort(key=lambda placed: placed.x)
        for left, right in zip(row, row[1:]):
            assert left.x + left.width / 2 <= right.x - right.width / 2
    for placed in layout.nodes.values():
        assert 0 <= placed.x - placed.width / 2
        assert placed.x + placed.width / 2 <= layout.width
        assert 0 <= placed.y - placed.height / 2
        assert placed.y + placed.height / 2 <= layout.height


def test_cycle_from_a_rerun_is_drawn_reversed():
    """A cell re-run after a cell that depends on it makes an edge pointing backwards."""
    nodes = [LayoutNode("a", "a"), LayoutNode("b", "b")]
    layout = layered_layout(nodes, [("a", "b"), ("b", "a")])
    routes = {(route.source, route.target): route for route in layout.routes}
    assert not routes[("a", "b")].reversed
    assert routes[("b", "a")].reversed
    assert routes[("b", "a")].points[0][1] > routes[("b", "a")].points[-1][1]


def test_unknown_nodes_and_self_loops_are_ignored():
    layout = layered_layout([LayoutNode("a", "a")], [("a", "a"), ("a", "ghost"), ("x", "a")])
    assert layout.routes == []
    assert list(layout.nodes) == ["a"]


def test_empty_flow_has_an_empty_layout():
    layout = layered_layout([], [])
    assert layout.nodes == {}
    assert layout.routes == []


def test_ordering_removes_avoidable_crossings():
    """Two parallel chains given interleaved end up side by side, without crossing."""
    nodes = [LayoutNode(key, key) for key in ("a1", "b1", "b2", "a2")]
    layout = layered_layout(nodes, [("a1", "a2"), ("b1", "b2")])
    top = layout.nodes["a1"].x < layout.nodes["b1"].x
    bottom = layout.nodes["a2"].x < layout.nodes["b2"].x
    assert top == bottom


def test_long_labels_are_cut_and_steps_are_smaller():
    label = "a_really_long_stage_name_that_goes_on_and_on"
    assert len(short_label(label)) == LABEL_LIMIT
    assert short_label(label).endswith("\u2026")
    assert short_label("train") == "train"
    stage_width, stage_height = node_size(LayoutNode("k", "train"))
    step_width, step_height = node_size(LayoutNode("k", "train", small=True))
    assert step_height < stage_height
    assert step_width <= stage_width


def test_two_hundred_stages_are_laid_out():
    nodes, edges = chain(200)
    layout = layered_layout(nodes, edges)
    assert len(layout.nodes) == 200
    assert len(layout.routes) == 199
    assert layout.nodes["s199"].layer == 199
