"""Layered drawing positions for the flow graph.

The panel draws the flow top to bottom. Each node sits on the layer below
its deepest upstream node, and long edges bend through empty slots on the
layers they cross. The nodes of a layer are ordered to keep edges from
crossing (the barycenter heuristic, a few sweeps up and down).
This is the usual scheme for drawing directed graphs in layers, after
Sugiyama, Tagawa and Toda (1981), reduced to what a notebook's flow needs.

Everything is plain Python over integers and floats: 200 stages with a few
hundred edges take a few tens of milliseconds (benchmarks/panel.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Sizes in pixels. A label is cut to LABEL_LIMIT characters; the full text is
# kept in the node's title for hovering.
CHAR_WIDTH = 7.2
NODE_HEIGHT = 30
STEP_HEIGHT = 20
NODE_PADDING = 22
MIN_WIDTH = 56
STEP_WIDTH = 48
LABEL_LIMIT = 28
GAP_X = 28
GAP_Y = 58
MARGIN = 16
SWEEPS = 6


@dataclass
class LayoutNode:
    """A node to place: its key, its text, and whether it is drawn small."""

    key: str
    label: str
    small: bool = False


@dataclass
class Placed:
    """A placed node: the centre of its box, and the box's size."""

    key: str
    layer: int
    x: float
    y: float
    width: float
    height: float


@dataclass
class Route:
    """A placed edge: the points of its polyline, from source to target."""

    source: str
    target: str
    points: list[tuple[float, float]]
    # True when the edge runs against the layering (the flow has a cycle).
    reversed: bool = False


@dataclass
class Layout:
    nodes: dict[str, Placed] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def short_label(label: str) -> str:
    """Return ``label`` cut to LABEL_LIMIT characters, with an ellipsis when cut."""
    return label if len(label) <= LABEL_LIMIT else label[:LABEL_LIMIT - 1] + "\u2026"


def node_size(node: LayoutNode) -> tuple[float, float]:
    if node.small:
        return max(STEP_WIDTH, len(short_label(node.label)) * CHAR_WIDTH * 0.85 + 12), STEP_HEIGHT
    return max(MIN_WIDTH, len(short_label(node.label)) * CHAR_WIDTH + NODE_PADDING), NODE_HEIGHT


def layered_layout(nodes: list[LayoutNode], edges: list[tuple[str, str]]) -> Layout:
    """Place ``nodes``, given in the order they ran, and route ``edges`` between them.

    An edge from a node to one listed before it (a cell re-run after a cell
    that depends on it) is laid out as if reversed, so cycles cannot stop
    the layering. It is drawn in its true direction and marked reversed.
    Edges to unknown keys and self-loops are ignored.
    """
    order = {node.key: position for position, node in enumerate(nodes)}
    forward: list[tuple[str, str, bool]] = []
    seen: set[tuple[str, str, bool]] = set()
    for source, target in edges:
        if source not in order or target not in order or source == target:
            continue
        flipped = order[source] > order[target]
        upper, lower = (target, source) if flipped else (source, target)
        if (upper, lower, flipped) not in seen:
            seen.add((upper, lower, flipped))
            forward.append((upper, lower, flipped))

    layer = _layers(nodes, forward)
    rows, chains = _insert_dummies(nodes, forward, layer)
    _order_rows(rows, chains, order)
    sizes = {node.key: node_size(node) for node in nodes}
    return _place(rows, chains, sizes, layer)


def _layers(nodes: list[LayoutNode], forward: list[tuple[str, str, bool]]) -> dict[str, int]:
    """Longest-path layering: edges all point to later nodes, so one pass in order is enough."""
    incoming: dict[str, list[str]] = {node.key: [] for node in nodes}
    for source, target, _ in forward:
        incoming[target].append(source)
    layer: dict[str, int] = {}
    for node in nodes:
        layer[node.key] = max((layer[source] + 1 for source in incoming[node.key]), default=0)
    return layer


def _insert_dummies(nodes: list[LayoutNode], forward: list[tuple[str, str, bool]],
                    layer: dict[str, int]) -> tuple[list[list], list[tuple]]:
    depth = max(layer.values(), default=-1) + 1
    rows: list[list] = [[] for _ in range(depth)]
    for node in nodes:
        rows[layer[node.key]].append(node.key)
    # A dummy, ("dummy", edge index, layer), is where an edge crosses a layer between its ends.
    chains: list[tuple] = []
    for index, (source, target, flipped) in enumerate(forward):
        chain: list = [source]
        for middle in range(layer[source] + 1, layer[target]):
            dummy = ("dummy", index, middle)
            rows[middle].append(dummy)
            chain.append(dummy)
        chain.append(target)
        chains.append((chain, flipped))
    return rows, chains


def _order_rows(rows: list[list], chains: list[tuple], order: dict[str, int]) -> None:
    """Reorder each row by the mean position of its neighbours, sweeping down and up."""
    up: dict = {}
    down: dict = {}
    for chain, _ in chains:
        for upper, lower in zip(chain, chain[1:]):
            down.setdefault(upper, []).append(lower)
            up.setdefault(lower, []).append(upper)

    def sweep(indices: range, neighbours: dict) -> None:
        for row_index in indices:
            row = rows[row_index]
            previous = rows[row_index - 1] if neighbours is up else rows[row_index + 1]
            position = {item: slot for slot, item in enumerate(previous)}
            current = {item: slot for slot, item in enumerate(row)}

            def weight(item: object) -> float:
                linked = [position[other] for other in neighbours.get(item, ()) if other in position]
                return sum(linked) / len(linked) if linked else float(current[item])

            row.sort(key=lambda item: (weight(item), current[item]))

    for _ in range(SWEEPS // 2):
        sweep(range(1, len(rows)), up)
        sweep(range(len(rows) - 2, -1, -1), down)


def _place(rows: list[list], chains: list[tuple], sizes: dict[str, tuple[float, float]],
           layer: dict[str, int]) -> Layout:
    """Give every row its x positions, centred on the widest row, and route the edges."""

    def width_of(item: object) -> float:
        return sizes[item][0] if isinstance(item, str) else 8.0

    row_widths = [sum(width_of(item) for item in row) + GAP_X * max(len(row) - 1, 0)
                  for row in rows]
    widest = max(row_widths, default=0.0)
    centre: dict = {}
    for row_index, row in enumerate(rows):
        x = MARGIN + (widest - row_widths[row_index]) / 2
        y = MARGIN + NODE_HEIGHT / 2 + row_index * (NODE_HEIGHT + GAP_Y)
        for item in row:
            width = width_of(item)
            centre[item] = (x + width / 2, y)
            x += width + GAP_X

    layout = Layout(width=widest + 2 * MARGIN,
                    height=2 * MARGIN + len(rows) * NODE_HEIGHT + max(len(rows) - 1, 0) * GAP_Y)
    for key, (width, height) in sizes.items():
        x, y = centre[key]
        layout.nodes[key] = Placed(key, layer[key], round(x, 1), round(y, 1), round(width, 1),
                                   height)
    for chain, flipped in chains:
        points: list[tuple[float, float]] = []
        for position, item in enumerate(chain):
            x, y = centre[item]
            if position == 0:
                y += sizes[item][1] / 2  # leave from the bottom of the upper box
            elif position == len(chain) - 1:
                y -= sizes[item][1] / 2  # arrive at the top of the lower box
            points.append((round(x, 1), round(y, 1)))
        source, target = chain[0], chain[-1]
        if flipped:
            source, target = target, source
            points.reverse()
        layout.routes.append(Route(source, target, points, flipped))
    return layout


# Label text is drawn at about this many pixels per character (10.5 px font).
LABEL_CHAR_WIDTH = 6.2
LABEL_HEIGHT = 13.0
# The fractions of its edge's length where a label may go, most wanted first.
LABEL_SPOTS = (0.5, 0.35, 0.65, 0.22, 0.78, 0.12, 0.88)


def point_along(points: list[tuple[float, float]], fraction: float) -> tuple[float, float]:
    """Return the point at ``fraction`` of a polyline's length."""
    lengths = [((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
               for (x0, y0), (x1, y1) in zip(points, points[1:])]
    left = sum(lengths) * fraction
    for (x0, y0), (x1, y1), length in zip(points, points[1:], lengths):
        if length >= left and length > 0:
            share = left / length
            return x0 + (x1 - x0) * share, y0 + (y1 - y0) * share
        left -= length
    return points[-1]


def place_labels(layout: Layout, labels: list[tuple[Route, str]]) -> list[tuple[float, float]]:
    """Return a position (left end, baseline) for each edge label, avoiding boxes and other labels.

    Each label tries a few spots along its edge and takes the first that
    overlaps nothing placed so far, or else the spot with the least overlap.
    The layout's width grows when a label reaches past its right edge.
    """
    taken = [(placed.x - placed.width / 2, placed.y - placed.height / 2,
              placed.x + placed.width / 2, placed.y + placed.height / 2)
             for placed in layout.nodes.values()]
    positions: list[tuple[float, float]] = []
    for route, text in labels:
        width = len(text) * LABEL_CHAR_WIDTH + 4
        candidates: list[tuple[float, tuple[float, float, float, float]]] = []
        for fraction in LABEL_SPOTS:
            x, y = point_along(route.points, fraction)
            box = (x + 3, y - LABEL_HEIGHT / 2, x + 3 + width, y + LABEL_HEIGHT / 2)
            overlap = sum(_overlap(box, other) for other in taken)
            candidates.append((overlap, box))
            if overlap == 0:
                break
        box = min(candidates, key=lambda candidate: candidate[0])[1]
        taken.append(box)
        positions.append((round(box[0] + 2, 1), round(box[3] - 3, 1)))
        layout.width = max(layout.width, box[2] + MARGIN)
    return positions


def _overlap(first: tuple[float, float, float, float],
             second: tuple[float, float, float, float]) -> float:
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    return width * height if width > 0 and height > 0 else 0.0
