// cerebras_magic ForkView: the cell's final answer with a heat-map whose tokens fork on click (anywidget ESM,
// no imports, works offline).
//
// Python traits are the single source of truth: `html` (the static final render, built and escaped in
// Python) and `branch_html` go through innerHTML into their own containers; everything else (alternatives,
// the live branch text, status, errors) is written with textContent. Clicking a token (or Enter on a focused
// one) lists its alternatives; choosing one sends {type: "fork", position, token} to the kernel.

const pct = (p) => (p >= 0.001 ? `${(p * 100).toFixed(1)}%` : p.toExponential(1));

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function render({ model, el }) {
  const view = h("div", { class: "cm-fv-view" });
  const hint = h("div", { class: "cm-fv-hint", text: "Click a token (or focus it and press Enter) to fork the answer from one of its alternatives." });
  const menu = h("div", { class: "cm-fv-menu", role: "menu", hidden: true });
  const status = h("div", { class: "cm-fv-status", role: "status", "aria-live": "polite" });
  const live = h("pre", { class: "cm-fv-live", hidden: true });
  const branch = h("div", { class: "cm-fv-branch" });
  const root = h("div", { class: "cm-fv" }, view, hint, menu, status, live, branch);
  el.replaceChildren(root);
  let byNode = new Map();

  const renderHtml = () => {
    view.innerHTML = model.get("html") || ""; // built and escaped by cerebras_magic (Python)
    const box = view.querySelector(".cm-lp .cm-lp-box");
    const tokens = box ? [...box.querySelectorAll(".cm-t")] : [];
    byNode = new Map();
    for (const piece of model.get("pieces") || []) {
      const node = tokens[piece.i];
      if (!node) continue;
      node.classList.add("cm-fv-forkable");
      node.setAttribute("aria-haspopup", "menu");
      byNode.set(node, piece);
    }
    hint.hidden = byNode.size === 0;
  };

  const close = () => {
    menu.hidden = true;
    menu.replaceChildren();
  };
  const open = (node) => {
    const piece = byNode.get(node);
    if (!piece) return;
    const busy = model.get("status") === "running";
    const items = piece.alts.map(([token, shown, p]) => {
      const b = h("button", { type: "button", class: "cm-fv-alt", role: "menuitem", disabled: busy },
        h("span", { class: "cm-fv-tok", text: shown }), h("span", { class: "cm-fv-p", text: pct(p) }));
      b.addEventListener("click", () => {
        close();
        model.send({ type: "fork", position: piece.position, token });
      });
      return b;
    });
    menu.replaceChildren(h("div", { class: "cm-fv-menu-head", text: `fork at #${piece.position}, instead of ${piece.chosen}:` }), ...items);
    const r = node.getBoundingClientRect();
    const base = root.getBoundingClientRect();
    menu.style.left = `${Math.max(0, r.left - base.left)}px`;
    menu.style.top = `${r.bottom - base.top + 4}px`;
    menu.hidden = false;
    const first = menu.querySelector("button");
    if (first) first.focus();
  };
  view.addEventListener("click", (e) => {
    const node = e.target.closest && e.target.closest(".cm-fv-forkable");
    if (node) open(node);
    else close();
  });
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
    else if (e.key === "Enter" && e.target.classList && e.target.classList.contains("cm-fv-forkable")) {
      e.preventDefault();
      open(e.target);
    }
    // keys typed here belong to the view, not to the notebook's shortcuts
    if (!(e.ctrlKey || e.metaKey)) e.stopPropagation();
  });

  const renderState = () => {
    const s = model.get("status") || "idle";
    const err = model.get("error") || "";
    root.dataset.status = s;
    status.textContent = err ? `✕ ${err}` : s === "running" ? "● forking…" : "";
    status.hidden = status.textContent === "";
    const text = model.get("branch") || "";
    live.textContent = text;
    live.hidden = text === "";
    const bh = model.get("branch_html") || "";
    if (branch.dataset.shown !== bh) {
      branch.innerHTML = bh; // built and escaped by cerebras_magic (Python)
      branch.dataset.shown = bh;
    }
  };
  for (const t of ["status", "error", "branch", "branch_html"]) model.on(`change:${t}`, renderState);
  model.on("change:html", renderHtml);
  model.on("change:pieces", renderHtml);
  renderHtml();
  renderState();
  return () => root.remove();
}

export default { render };
