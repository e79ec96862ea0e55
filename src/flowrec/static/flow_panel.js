// flowrec's flow drawing, rendered by anywidget in any Jupyter front end.
// Every string from a notebook reaches the page through textContent or an
// attribute value, never through innerHTML, so names and code display as text.

const SVG = "http://www.w3.org/2000/svg";
const ZOOM_STEPS = [0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3];
let viewCount = 0;

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    element.setAttribute(name, String(value));
  }
  return element;
}

function html(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function titled(element, text) {
  const title = svg("title");
  title.textContent = text;
  element.appendChild(title);
  return element;
}

// The point halfway along a polyline, where an edge's label goes.
function midpoint(points) {
  let total = 0;
  for (let i = 1; i < points.length; i++) {
    total += Math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]);
  }
  let left = total / 2;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const length = Math.hypot(x1 - x0, y1 - y0);
    if (length >= left && length > 0) {
      const t = left / length;
      return [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t];
    }
    left -= length;
  }
  return points[0];
}

function drawGraph(graph, selected, markerId) {
  const root = svg("svg", {
    class: "flowrec-graph",
    viewBox: `0 0 ${Math.max(graph.width, 1)} ${Math.max(graph.height, 1)}`,
    role: "img",
    "aria-label": `flow of ${graph.title}`,
  });
  const defs = svg("defs");
  const marker = svg("marker", {
    id: markerId, viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  });
  marker.appendChild(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "flowrec-arrow" }));
  defs.appendChild(marker);
  root.appendChild(defs);

  const edgeLayer = svg("g", { class: "flowrec-edges" });
  const labelLayer = svg("g", { class: "flowrec-edge-labels" });
  for (const edge of graph.edges) {
    const points = edge.points;
    const path = svg("path", {
      d: points.map((p, i) => `${i ? "L" : "M"} ${p[0]} ${p[1]}`).join(" "),
      class: `flowrec-edge kind-${edge.kind.replace(/\W+/g, "-")}` + (edge.reversed ? " reversed" : ""),
      "marker-end": `url(#${markerId})`,
      "data-source": edge.source,
      "data-target": edge.target,
    });
    titled(path, `${edge.source} \u2192 ${edge.target}\n${edge.title}`);
    edgeLayer.appendChild(path);
    if (edge.label) {
      // The kernel places labels clear of boxes and of each other; the midpoint is a fallback.
      const [x, y] = edge.label_x === undefined ? midpoint(points).map((v) => v + 4)
        : [edge.label_x, edge.label_y];
      const text = svg("text", { x, y, class: "flowrec-edge-label" });
      text.textContent = edge.label;
      titled(text, edge.title);
      labelLayer.appendChild(text);
    }
  }

  const nodeLayer = svg("g", { class: "flowrec-nodes" });
  for (const node of graph.nodes) {
    const group = svg("g", {
      class: `flowrec-node state-${node.state}` + (node.small ? " step" : " stage")
        + (node.key === selected ? " selected" : ""),
      transform: `translate(${node.x - node.w / 2} ${node.y - node.h / 2})`,
      tabindex: 0,
      role: "button",
      "data-key": node.key,
      "aria-label": node.title,
    });
    group.appendChild(svg("rect", { width: node.w, height: node.h, rx: node.small ? 9 : 6 }));
    const label = svg("text", { x: node.w / 2, y: node.h / 2 + (node.small ? 4 : 4.5) });
    label.textContent = node.label;
    group.appendChild(label);
    titled(group, node.title);
    nodeLayer.appendChild(group);
  }
  root.appendChild(edgeLayer);
  root.appendChild(nodeLayer);
  root.appendChild(labelLayer);
  return root;
}

// The tab of the JupyterLab sidebar that shows this view, with its side and index.
function sidebarTab(el) {
  const area = el.closest(".jp-SideAreaWidget");
  if (!area || !area.id) return null;
  const tab = document.querySelector(`.lm-TabBar-tab[data-id="${CSS.escape(area.id)}"]`);
  if (!tab) return null;
  const tabs = [...tab.parentElement.children].filter((item) => item.classList.contains("lm-TabBar-tab"));
  const side = el.closest("#jp-left-stack") ? "left" : "right";
  const open = tab.classList.contains("lm-mod-current") && !area.classList.contains("lm-mod-hidden");
  return { side, index: tabs.indexOf(tab), open };
}

function render({ model, el }) {
  viewCount += 1;
  const markerId = `flowrec-arrow-${viewCount}-${Math.random().toString(36).slice(2, 8)}`;
  let zoom = 1;
  // Until the user zooms, the drawing follows the panel's width.
  let userZoomed = false;
  // A drawing wider than the panel first scrolls to its first node, not to blank space.
  let scrolled = false;

  const container = html("div", "flowrec-flow");
  const toolbar = html("div", "flowrec-toolbar");
  const summary = html("span", "flowrec-summary");
  const zoomOut = html("button", "flowrec-zoom-out", "\u2212");
  const zoomIn = html("button", "flowrec-zoom-in", "+");
  const fit = html("button", "flowrec-zoom-fit", "fit");
  const actual = html("button", "flowrec-zoom-reset", "100%");
  zoomOut.title = "zoom out (or Ctrl + mouse wheel)";
  zoomIn.title = "zoom in (or Ctrl + mouse wheel)";
  fit.title = "fit the whole flow into the view";
  actual.title = "show at full size";
  toolbar.append(summary, zoomOut, zoomIn, fit, actual);
  const canvas = html("div", "flowrec-canvas");
  const legend = html("div", "flowrec-legend");
  container.append(toolbar, canvas, legend);
  el.appendChild(container);

  function applyZoom() {
    const graph = model.get("graph") || {};
    const drawing = canvas.querySelector("svg");
    if (!drawing) return;
    drawing.setAttribute("width", String(Math.max(graph.width || 1, 1) * zoom));
    drawing.setAttribute("height", String(Math.max(graph.height || 1, 1) * zoom));
    container.dataset.zoom = zoom.toFixed(2);
  }

  function step(direction) {
    const index = ZOOM_STEPS.findIndex((value) => value >= zoom - 1e-9);
    const next = Math.min(Math.max((index < 0 ? ZOOM_STEPS.length - 1 : index) + direction, 0),
      ZOOM_STEPS.length - 1);
    zoom = ZOOM_STEPS[next];
    applyZoom();
  }

  // The fit button shrinks as far as needed; the automatic fit stops where labels
  // would become hard to read, and the rest scrolls.
  function fitZoom(smallest) {
    const graph = model.get("graph") || {};
    const available = canvas.clientWidth - 8;
    if (!graph.width || available <= 0) return;
    zoom = Math.max(smallest, Math.min(1, available / graph.width));
    applyZoom();
  }

  function autoFit() {
    if (!userZoomed) fitZoom(0.7);
    const graph = model.get("graph") || {};
    if (scrolled || !canvas.clientWidth || !graph.nodes || !graph.nodes.length) return;
    scrolled = true;
    const first = graph.nodes[0];
    canvas.scrollLeft = Math.max(0, first.x * zoom - canvas.clientWidth / 2);
  }

  function select(key) {
    model.set("selected", key);
    model.save_changes();
  }

  function draw() {
    const graph = model.get("graph") || { nodes: [], edges: [], legend: [], width: 0, height: 0 };
    canvas.replaceChildren();
    if (!graph.nodes || graph.nodes.length === 0) {
      canvas.appendChild(html("div", "flowrec-empty",
        "Nothing recorded yet: run a cell after %load_ext flowrec."));
    } else {
      canvas.appendChild(drawGraph(graph, model.get("selected"), markerId));
    }
    const counts = graph.counts || {};
    const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
    const parts = [plural(graph.stages || 0, "stage"), plural(graph.steps || 0, "step")];
    for (const state of ["stale", "failed", "diverged"]) {
      if (counts[state]) parts.push(`${counts[state]} ${state}`);
    }
    summary.textContent = parts.join(" \u00b7 ");
    legend.replaceChildren();
    for (const item of graph.legend || []) {
      const entry = html("span", `flowrec-legend-item state-${item.state}`);
      entry.appendChild(html("span", "flowrec-swatch"));
      entry.appendChild(html("span", "flowrec-legend-text", item.text));
      legend.appendChild(entry);
    }
    applyZoom();
    autoFit();
  }

  function markSelected() {
    const key = model.get("selected");
    for (const node of canvas.querySelectorAll(".flowrec-node")) {
      node.classList.toggle("selected", node.dataset.key === key);
    }
  }

  canvas.addEventListener("click", (event) => {
    const node = event.target.closest(".flowrec-node");
    if (node) select(node.dataset.key);
  });
  canvas.addEventListener("keydown", (event) => {
    const node = event.target.closest(".flowrec-node");
    if (node && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(node.dataset.key);
    }
  });
  canvas.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    userZoomed = true;
    step(event.deltaY < 0 ? 1 : -1);
  }, { passive: false });
  zoomIn.addEventListener("click", () => { userZoomed = true; step(1); });
  zoomOut.addEventListener("click", () => { userZoomed = true; step(-1); });
  fit.addEventListener("click", () => { userZoomed = true; fitZoom(0.2); });
  // A panel drawn while hidden (a sidebar tab not yet open) has no width until shown.
  const resized = new ResizeObserver(autoFit);
  resized.observe(canvas);
  actual.addEventListener("click", () => { userZoomed = true; zoom = 1; applyZoom(); });

  // The kernel requests the sidebar tab open by counting up "reveal". Only a view
  // inside a sidebar acts, and it reports its tab's index when the tab is closed.
  let revealed = 0;
  function reveal() {
    const requested = model.get("reveal") || 0;
    if (requested <= revealed) return;
    revealed = requested;
    let tries = 0;
    const attempt = () => {
      const tab = sidebarTab(el);
      if (tab) {
        if (!tab.open) model.send({ event: "open-tab", side: tab.side, index: tab.index });
        return;
      }
      // A view under a cell has no tab; a view still being attached gets a few more tries.
      if (el.isConnected && !el.closest(".jp-SideAreaWidget")) return;
      tries += 1;
      if (tries < 50) setTimeout(attempt, 100);
    };
    attempt();
  }

  model.on("change:graph", draw);
  model.on("change:selected", markSelected);
  model.on("change:reveal", reveal);
  draw();
  reveal();
  return () => {
    resized.disconnect();
    model.off("change:graph", draw);
    model.off("change:selected", markSelected);
    model.off("change:reveal", reveal);
  };
}

export default { render };
