// cerebras_magic Playground: the front end of `cm.Playground()` (anywidget ESM, no imports, works offline).
//
// Python traits are the single source of truth. This file only renders them and sends edits (model.set +
// save_changes) and actions (model.send({type: ...})). Model text (output, reasoning, conversation, runs,
// error, cell) is always written with textContent; only `logprobs_html`, which the Python renderer builds
// and escapes, goes through innerHTML, into its own container.

const INVALID = Symbol("invalid");
let nextUid = 0;

const same = (a, b) => a === b || JSON.stringify(a) === JSON.stringify(b);
const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
const isNum = (x) => typeof x === "number" && Number.isFinite(x);

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// Parsers from an input's text to a trait value (INVALID: keep the box red, send nothing).
function intIn(lo, hi, { empty = INVALID } = {}) {
  return (s) => {
    s = s.trim();
    if (s === "") return empty;
    const n = Number(s);
    if (!Number.isInteger(n) || n < lo || n > hi) return INVALID;
    return n;
  };
}

function floatIn(lo, hi) {
  return (s) => {
    const n = Number(s);
    return s.trim() === "" || !Number.isFinite(n) || n < lo || n > hi ? INVALID : n;
  };
}

// Stop strings, one per line, spelled as `%%cerebras --stop` spells them: the escape table (a newline, tab,
// CR or backslash as a two-character escape) comes from Python in the `spec` trait.
function stopCodec(escapes, maxItems) {
  const unescape = new Map(Object.entries(escapes));
  const escape = new Map([...unescape].map(([k, v]) => [v, k]));
  const anyEscape = new RegExp([...unescape.keys()].map((k) => k.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")).join("|"), "g");
  const anyChar = new RegExp(`[${[...escape.keys()].map((c) => c.replace(/[\\\]^-]/g, "\\$&")).join("")}]`, "g");
  return {
    parse: (s) => s.split("\n").filter((line) => line !== "").slice(0, maxItems).map((line) => line.replace(anyEscape, (m) => unescape.get(m))),
    format: (list) => (list || []).map((x) => String(x).replace(anyChar, (m) => escape.get(m))).join("\n"),
    hint: `one per line, up to ${maxItems}; ${[...unescape.keys()][0]} = newline`,
  };
}

function statsLine(st, running, elapsed) {
  const parts = [];
  if (running) {
    parts.push(`running ${elapsed.toFixed(1)} s`);
    const tok = st.tokens ?? st.completion_tokens;
    if (isNum(tok)) {
      parts.push(`${fmtInt(tok)} tokens`);
      const tps = isNum(st.tokens_per_second) ? st.tokens_per_second : elapsed > 0.2 && tok > 0 ? tok / elapsed : null;
      if (tps !== null) parts.push(`${fmtInt(tps)} tok/s`);
    }
    if (isNum(st.ttft_ms)) parts.push(`TTFT ${fmtInt(st.ttft_ms)} ms`);
    return parts.join(" · ");
  }
  if (st.model) parts.push(st.model);
  const comp = st.completion_tokens ?? st.tokens;
  if (isNum(st.prompt_tokens) && isNum(comp)) parts.push(`${fmtInt(st.prompt_tokens)} → ${fmtInt(comp)} tokens`);
  else if (isNum(comp)) parts.push(`${fmtInt(comp)} tokens`);
  if (isNum(st.ttft_ms)) parts.push(`TTFT ${fmtInt(st.ttft_ms)} ms`);
  if (isNum(st.tokens_per_second)) parts.push(`${fmtInt(st.tokens_per_second)} tok/s`);
  if (isNum(st.elapsed_s)) parts.push(`${st.elapsed_s.toFixed(2)} s`);
  if (isNum(st.server_total_time)) {
    let s = `server ${st.server_total_time.toFixed(3)} s`;
    if (isNum(st.server_queue_time)) s += ` (queue ${st.server_queue_time.toFixed(3)} s)`;
    parts.push(s);
  }
  const left = [];
  if (isNum(st.remaining_tokens)) left.push(`${fmtInt(st.remaining_tokens)} tokens`);
  if (isNum(st.remaining_requests)) left.push(`${fmtInt(st.remaining_requests)} requests`);
  if (left.length) parts.push(`left: ${left.join(", ")}`);
  if (st.finish_reason) {
    parts.push(st.finish_reason === "length" ? "finish: length (cut at max tokens)" : `finish: ${st.finish_reason}`);
  }
  if (st.backend && !/api\.cerebras\.ai/.test(st.backend)) parts.push(`via ${String(st.backend).replace(/^https?:\/\//, "")}`);
  return parts.join(" · ");
}

// glyphs that common UI fonts have (⏹ often renders as a box)
const STATUS_TEXT = { idle: "idle", running: "● running", ok: "✓ ok", error: "✕ error", interrupted: "■ interrupted" };
const RUN_MARK = { ok: "✓", error: "✕", interrupted: "■", running: "●" };

// The CodeMirror 6 editor of the notebook cell whose output holds `el` (JupyterLab 4 and Notebook 7 share
// their cells; its content node carries the view). Changes made through it reach the notebook's model like
// typing does. null elsewhere (VS Code, Colab, a page with no cell).
function cellEditor(el) {
  const cell = el.closest(".jp-Cell");
  const content = cell && cell.querySelector(".jp-InputArea-editor .cm-content");
  const node = content && content.cmView;
  const view = node && ((node.rootView && node.rootView.view) || node.view);
  return view && view.state && typeof view.dispatch === "function" ? view : null;
}

function render({ model, el }) {
  // the parameter list, its bounds and the stop-string escapes: Python's, from the `spec` trait
  const spec = model.get("spec") || {};
  const param = (name) => (spec.params || []).find((p) => p.name === name) || {};
  const attr = (v) => (v === null || v === undefined ? undefined : String(v));
  const stops = stopCodec(spec.escapes || {}, param("stop").max_items || Infinity);
  const uid = `cm-pg-${++nextUid}-${Math.random().toString(36).slice(2, 7)}`;
  const id = (name) => `${uid}-${name}`;
  const offModel = [];
  const offDom = [];
  const on = (name, cb) => {
    model.on(name, cb);
    offModel.push([name, cb]);
  };
  const listen = (node, type, cb) => {
    node.addEventListener(type, cb);
    offDom.push([node, type, cb]);
  };
  const save = (name, value) => {
    if (same(model.get(name), value)) return;
    model.set(name, value);
    model.save_changes();
  };
  const send = (type, extra = {}) => model.send({ type, ...extra });

  // ---------- inputs ----------
  const field = (label, control, { cls = "", hint = null } = {}) => {
    control.id = control.id || id(label.replace(/\W+/g, "-").toLowerCase());
    const hintNode = hint ? h("span", { class: "cm-pg-hint", id: `${control.id}-hint`, text: hint }) : null;
    if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
    return h("div", { class: `cm-pg-field ${cls}` }, h("label", { for: control.id, text: label }), control, hintNode);
  };

  const prompt = h("textarea", { class: "cm-pg-prompt", rows: 4, spellcheck: "true", placeholder: "Ask something… (Ctrl+Enter runs)" });
  const system = h("textarea", { class: "cm-pg-system", rows: 2, placeholder: "Optional system prompt" });
  const modelSel = h("select", { class: "cm-pg-model" });
  const refresh = h("button", { type: "button", class: "cm-pg-btn cm-pg-refresh", title: "Reload the model list from the API", text: "↻ Refresh" });
  const slider = (name, cls) => h("input", { type: "range", class: cls, min: attr(param(name).lo), max: attr(param(name).hi), step: "0.01" });
  const resetBtn = (what) => h("button", { type: "button", class: "cm-pg-btn cm-pg-reset", text: "↺", title: `Use the default ${what} (send none)` });
  const temperature = slider("temperature", "cm-pg-temperature");
  const tempOut = h("output", { class: "cm-pg-num", for: id("temperature") });
  const tempReset = resetBtn("temperature");
  const topP = slider("top_p", "cm-pg-top-p");
  const topPOut = h("output", { class: "cm-pg-num", for: id("top-p") });
  const topPReset = resetBtn("top-p");
  const maxTokens = h("input", { type: "number", class: "cm-pg-max-tokens", min: attr(param("max_tokens").lo), step: "1", inputmode: "numeric", placeholder: "default" });
  const minTokens = h("input", { type: "number", class: "cm-pg-min-tokens", min: attr(param("min_tokens").lo), step: "1", inputmode: "numeric", placeholder: "default" });
  const seed = h("input", { type: "number", class: "cm-pg-seed", step: "1", inputmode: "numeric", placeholder: "random" });
  const stop = h("textarea", { class: "cm-pg-stop", rows: 2, placeholder: "e.g. END", spellcheck: "false" });
  const logprobs = h("input", { type: "checkbox", class: "cm-pg-logprobs" });
  const topK = h("input", { type: "number", class: "cm-pg-top-k", min: attr(param("logprobs").lo), max: attr(param("logprobs").hi), step: "1", inputmode: "numeric" });
  const endpoint = h("select", { class: "cm-pg-endpoint" },
    h("option", { value: "chat", text: "chat", title: "/v1/chat/completions" }),
    h("option", { value: "completion", text: "text completion", title: "/v1/completions" }));
  const format = h("select", { class: "cm-pg-format" },
    h("option", { value: "text", text: "text" }),
    h("option", { value: "json", text: "JSON object" }),
    h("option", { value: "schema", text: "JSON schema" }));
  const schemaName = h("input", { type: "text", class: "cm-pg-schema", placeholder: "e.g. Person", spellcheck: "false", autocomplete: "off" });
  const chatMode = h("input", { type: "checkbox", class: "cm-pg-chat-mode" });
  const newConv = h("button", { type: "button", class: "cm-pg-btn cm-pg-new-conv", text: "New conversation" });

  const runBtn = h("button", { type: "button", class: "cm-pg-btn cm-pg-primary cm-pg-run", text: "▶ Run", title: "Run (Ctrl+Enter)" });
  const stopBtn = h("button", { type: "button", class: "cm-pg-btn cm-pg-stop-btn", text: "■ Stop", title: "Stop (Esc)" });
  const status = h("span", { class: "cm-pg-status", role: "status", "aria-live": "polite" });

  // ---------- outputs ----------
  const conv = h("div", { class: "cm-pg-conv", role: "log", "aria-label": "Conversation so far" });
  const reasoningPre = h("pre", { class: "cm-pg-reasoning-text" });
  const reasoningSum = h("summary", { text: "Reasoning" });
  const reasoning = h("details", { class: "cm-pg-reasoning" }, reasoningSum, reasoningPre);
  const answer = h("pre", { class: "cm-pg-answer", tabindex: "0", "aria-label": "Answer", "aria-live": "off" });
  const stats = h("div", { class: "cm-pg-stats" });
  const error = h("div", { class: "cm-pg-error", role: "alert" });
  const lp = h("div", { class: "cm-pg-logprobs-view" });
  const runsList = h("ol", { class: "cm-pg-runs-list", reversed: true });
  const runsCount = h("span", { class: "cm-pg-count" });
  const runs = h("details", { class: "cm-pg-runs", open: true },
    h("summary", {}, "Runs in this panel ", runsCount), runsList);
  const copyBtn = h("button", { type: "button", class: "cm-pg-btn cm-pg-copy", text: "Copy as %%cerebras cell" });
  const copyNote = h("span", { class: "cm-pg-hint cm-pg-copy-note", "aria-live": "polite" });
  const cellBox = h("textarea", { class: "cm-pg-cell", readonly: true, rows: 4, spellcheck: "false", id: id("cell") });
  const writeBtn = h("button", { type: "button", class: "cm-pg-btn cm-pg-write-back", text: "Write back to the cell",
    title: "Replace this cell's %%cerebras line and prompt with the panel's settings" });

  const stopField = field("Stop strings", stop, { hint: stops.hint });
  const systemField = field("System prompt", system, { cls: "cm-pg-system-field" });
  const schemaField = field("Schema", schemaName, { hint: "a pydantic model class in the notebook" });
  const tempField = field("Temperature", temperature, { cls: "cm-pg-range" });
  tempField.append(tempOut, tempReset);
  const topPField = field("Top-p", topP, { cls: "cm-pg-range" });
  topPField.append(topPOut, topPReset);
  const modelField = field("Model", modelSel, { cls: "cm-pg-model-field" });
  modelField.append(refresh);
  const check = (input, name, label) =>
    h("div", { class: "cm-pg-check" }, input, h("label", { for: (input.id = id(name)), text: label }));
  const topKField = h("div", { class: "cm-pg-inline" },
    h("label", { for: (topK.id = id("top-k")), text: "top-K" }), topK);
  const row = (...fields) => h("div", { class: "cm-pg-row" }, ...fields);

  const params = h("fieldset", { class: "cm-pg-params" },
    h("legend", { text: "Parameters" }),
    modelField,
    row(field("Endpoint", endpoint), field("Response format", format)),
    schemaField,
    tempField,
    topPField,
    row(field("Max tokens", maxTokens), field("Min tokens", minTokens, { hint: "0 = unset" }), field("Seed", seed)),
    stopField,
    row(check(logprobs, "logprobs", "Logprobs heat-map"), topKField),
    row(check(chatMode, "chat-mode", "Chat mode"), newConv));

  const root = h("div", { class: "cm-pg", role: "region", "aria-label": "Cerebras playground" },
    h("div", { class: "cm-pg-head" },
      h("span", { class: "cm-pg-title", text: "Cerebras Playground" }), status,
      h("span", { class: "cm-pg-hint cm-pg-keys", text: "Ctrl/⌘+Enter runs · Esc stops" })),
    h("div", { class: "cm-pg-top" },
      h("div", { class: "cm-pg-main" },
        field("Prompt", prompt, { cls: "cm-pg-prompt-field" }),
        systemField,
        h("div", { class: "cm-pg-actions" }, runBtn, stopBtn),
        conv, reasoning,
        h("div", { class: "cm-pg-answer-label", id: id("answer-label"), text: "Answer" }),
        answer, stats, error),
      params),
    lp,
    h("div", { class: "cm-pg-foot" },
      runs,
      h("div", { class: "cm-pg-cell-row" }, copyBtn, writeBtn, copyNote),
      h("label", { class: "cm-pg-sr", for: cellBox.id, text: "%%cerebras cell for the current settings" }),
      cellBox));
  answer.removeAttribute("aria-label");
  answer.setAttribute("aria-labelledby", id("answer-label"));
  el.replaceChildren(root);

  // ---------- two-way bindings for the input traits ----------
  function bind(name, input, { read, write, event = "input" }) {
    const fromModel = () => {
      const v = model.get(name);
      const r = read();
      if (r === INVALID || !same(r, v)) write(v);
      input.removeAttribute("aria-invalid");
    };
    const toModel = () => {
      const r = read();
      if (r === INVALID) {
        input.setAttribute("aria-invalid", "true");
        return;
      }
      input.removeAttribute("aria-invalid");
      save(name, r);
    };
    listen(input, event, toModel);
    if (event === "input") listen(input, "change", () => (read() === INVALID ? fromModel() : toModel()));
    on(`change:${name}`, fromModel);
    fromModel();
  }
  const text = (name, input) => bind(name, input, { read: () => input.value, write: (v) => (input.value = v ?? "") });
  const number = (name, input, parse) =>
    bind(name, input, { read: () => parse(input.value), write: (v) => (input.value = v === null || v === undefined ? "" : String(v)) });
  const checkbox = (name, input) => bind(name, input, { read: () => input.checked, write: (v) => (input.checked = !!v), event: "change" });
  const select = (name, input) => bind(name, input, { read: () => input.value, write: (v) => (input.value = v), event: "change" });
  // a slider whose trait may be null ("the default": nothing is sent); ↺ goes back to it
  const range = (name, input, out, reset) => {
    const unset = () => model.get(name) === null || model.get(name) === undefined;
    const show = () => {
      out.textContent = unset() ? "default" : Number(model.get(name)).toFixed(2);
      out.title = unset() ? "the server's default: no value is sent" : "";
      input.classList.toggle("cm-pg-default", unset());
      reset.disabled = unset();
    };
    const middle = () => String((Number(input.min) + Number(input.max)) / 2);
    bind(name, input, { read: () => floatIn(Number(input.min), Number(input.max))(input.value), write: (v) => (input.value = v === null || v === undefined ? middle() : String(v)) });
    listen(input, "input", () => (out.textContent = Number(input.value).toFixed(2)));
    listen(reset, "click", () => save(name, null));
    on(`change:${name}`, show);
    show();
  };

  text("prompt", prompt);
  text("system", system);
  text("schema_name", schemaName);
  range("temperature", temperature, tempOut, tempReset);
  range("top_p", topP, topPOut, topPReset);
  number("max_tokens", maxTokens, intIn(param("max_tokens").lo ?? Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { empty: null }));
  number("min_tokens", minTokens, intIn(param("min_tokens").lo ?? Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { empty: null }));
  number("seed", seed, intIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { empty: null }));
  number("top_k", topK, intIn(param("logprobs").lo ?? 0, param("logprobs").hi ?? Number.MAX_SAFE_INTEGER));
  bind("stop", stop, { read: () => stops.parse(stop.value), write: (v) => (stop.value = stops.format(v)) });
  checkbox("logprobs", logprobs);
  checkbox("chat_mode", chatMode);
  select("endpoint", endpoint);
  select("response_format", format);

  // ---------- tools: the notebook functions the model may call, each step, Approve/Deny ----------
  // (the kernel waits for the answer on the panel's worker thread; step text is model text: textContent only)
  const toolsIn = h("input", { type: "text", class: "cm-pg-tools", placeholder: "e.g. get_weather, convert", spellcheck: "false", autocomplete: "off" });
  const approveBox = h("input", { type: "checkbox", class: "cm-pg-approve-box" });
  params.append(field("Tools", toolsIn, { hint: "notebook functions, comma-separated" }),
    row(check(approveBox, "approve", "Ask before each tool call")));
  text("tools", toolsIn);
  checkbox("approve", approveBox);
  const approvalText = h("span", { class: "cm-pg-approval-text" });
  const approveYes = h("button", { type: "button", class: "cm-pg-btn cm-pg-primary cm-pg-approve-yes", text: "Approve" });
  const approveNo = h("button", { type: "button", class: "cm-pg-btn cm-pg-approve-no", text: "Deny" });
  const approval = h("div", { class: "cm-pg-approval", role: "alertdialog", "aria-label": "Approve this tool call?" },
    approvalText, approveYes, approveNo);
  const stepsList = h("ol", { class: "cm-pg-steps", "aria-label": "Tool calls" });
  runBtn.parentNode.after(approval, stepsList);
  const STEP_MARK = { ok: "✓", error: "✕", refused: "⊘", "not run": "–", interrupted: "■", running: "…", called: "·" };
  const renderSteps = () => {
    const list = model.get("tool_steps") || [];
    stepsList.replaceChildren(...list.map((s) => h("li", { class: `cm-pg-step cm-pg-step-${String(s.status || "note").replace(/\W/g, "-")}`,
      text: s.note ? s.note : `${STEP_MARK[s.status] || "·"} ${s.call}${s.said ? ` → ${s.said}` : ""}${isNum(s.ms) ? ` · ${s.ms} ms` : ""}` })));
    stepsList.hidden = list.length === 0;
  };
  const renderApproval = () => {
    const p = model.get("pending_call") || {};
    approval.hidden = !p.id;
    approvalText.textContent = p.id ? `Run ${p.call}?` : "";
    if (p.id) approveYes.focus();
  };
  const answerCall = (ok) => {
    const p = model.get("pending_call") || {};
    if (p.id) send("approve", { id: p.id, ok });
  };
  listen(approveYes, "click", () => answerCall(true));
  listen(approveNo, "click", () => answerCall(false));
  on("change:tool_steps", renderSteps);
  on("change:pending_call", renderApproval);
  renderSteps();
  renderApproval();

  // the model dropdown: options from `models`, plus the current model if the list lacks it
  const renderModels = () => {
    const current = model.get("model") || "";
    const ids = [...(model.get("models") || [])];
    if (current && !ids.includes(current)) ids.unshift(current);
    if (!same([...modelSel.options].map((o) => o.value), ids)) {
      modelSel.replaceChildren(...ids.map((m) => h("option", { value: m, text: m })));
    }
    if (modelSel.value !== current) modelSel.value = current;
  };
  listen(modelSel, "change", () => save("model", modelSel.value));
  on("change:models", renderModels);
  on("change:model", renderModels);
  renderModels();

  // ---------- visibility that depends on settings ----------
  const layout = () => {
    const chat = model.get("endpoint") !== "completion";
    systemField.hidden = !chat;
    schemaField.hidden = model.get("response_format") !== "schema";
    topK.disabled = !model.get("logprobs");
    topKField.classList.toggle("cm-pg-off", topK.disabled);
    newConv.disabled = !model.get("chat_mode");
    const given = stop.value.split("\n").filter((l) => l !== "").length;
    const most = param("stop").max_items || Infinity;
    stopField.querySelector(".cm-pg-hint").textContent = given > most ? `only the first ${most} are used` : stops.hint;
    stopField.classList.toggle("cm-pg-warn", given > most);
    renderConversation();
  };
  for (const t of ["endpoint", "response_format", "logprobs", "chat_mode", "stop"]) on(`change:${t}`, layout);
  listen(stop, "input", layout);

  // ---------- actions ----------
  // the run message carries the settings: ipywidgets may still hold back their last state update
  const run = () => {
    if (!model.get("running")) send("run", { params: Object.fromEntries((spec.fields || []).map((k) => [k, model.get(k)])) });
  };
  const stopRun = () => {
    if (model.get("running")) send("stop");
  };
  listen(runBtn, "click", run);
  listen(stopBtn, "click", stopRun);
  listen(refresh, "click", () => send("refresh_models"));
  listen(newConv, "click", () => send("new_conversation"));
  listen(root, "keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey) {
      e.preventDefault();
      save("prompt", prompt.value); // already saved on input; flushed again before the run message
      run();
    } else if (e.key === "Escape" && model.get("running")) {
      e.preventDefault();
      stopRun();
    }
    // Keys typed in the panel belong to the panel: without this, JupyterLab's notebook shortcuts fire from
    // inside it (Shift+Enter re-runs the cell and replaces the panel, "a"/"b" on a checkbox insert cells,
    // "d d" deletes the cell). Ctrl/Cmd combinations other than Enter (save, palette, ...) still reach it.
    if (!(e.ctrlKey || e.metaKey) || e.key === "Enter") e.stopPropagation();
  });

  // ---------- outputs ----------
  let timer = null;
  let startedAt = 0;
  const renderStats = () => {
    const running = !!model.get("running");
    const st = model.get("stats") || {};
    const elapsed = running ? (performance.now() - startedAt) / 1000 : 0;
    stats.textContent = statsLine(st, running, isNum(st.elapsed_s) && running ? Math.max(st.elapsed_s, elapsed) : elapsed);
    stats.hidden = stats.textContent === "";
    const updates = model.get("updates");
    stats.title = isNum(updates) ? `${updates} output updates sent by the kernel for the last run` : "";
    root.dataset.updates = String(updates ?? "");
  };
  const renderRunning = () => {
    const running = !!model.get("running");
    runBtn.disabled = running;
    stopBtn.disabled = !running;
    root.classList.toggle("cm-pg-is-running", running);
    if (running && !timer) {
      startedAt = performance.now();
      timer = setInterval(renderStats, 100);
    } else if (!running && timer) {
      clearInterval(timer);
      timer = null;
    }
    renderStats();
  };
  const renderStatus = () => {
    const s = model.get("status") || "idle";
    status.dataset.status = s;
    root.dataset.status = s;
    status.textContent = STATUS_TEXT[s] || s;
  };
  const renderOutput = () => {
    const v = model.get("output") || "";
    if (answer.textContent === v) return;
    const follow = answer.scrollTop + answer.clientHeight >= answer.scrollHeight - 8;
    answer.textContent = v;
    if (follow) answer.scrollTop = answer.scrollHeight;
  };
  const renderReasoning = () => {
    const v = model.get("reasoning") || "";
    reasoning.hidden = v === "";
    reasoningSum.textContent = `Reasoning (${fmtInt(v.length)} chars)`;
    if (reasoningPre.textContent !== v) reasoningPre.textContent = v;
  };
  const renderError = () => {
    const v = model.get("error") || "";
    error.textContent = v ? `✕ ${v}` : "";
    error.hidden = v === "";
  };
  // ---------- fork: a token of the answer's heat-map, one of its alternatives, and the answer goes on from there ----------
  const forkMenu = h("div", { class: "cm-pg-fork-menu", role: "menu", hidden: true });
  let forkable = new Map();
  const closeFork = () => {
    forkMenu.hidden = true;
    forkMenu.replaceChildren();
  };
  const markForkable = () => {
    forkable = new Map();
    const box = lp.querySelector(".cm-lp .cm-lp-box"); // the answer's heat-map (the reasoning's comes after it)
    const tokens = box ? [...box.querySelectorAll(".cm-t")] : [];
    for (const piece of model.get("fork_pieces") || []) {
      const node = tokens[piece.i];
      if (!node) continue;
      node.classList.add("cm-pg-forkable");
      node.setAttribute("aria-haspopup", "menu");
      forkable.set(node, piece);
    }
    lp.dataset.forkable = String(forkable.size);
  };
  const openFork = (node) => {
    const piece = forkable.get(node);
    if (!piece) return;
    const items = piece.alts.map(([token, shown, p]) => {
      const b = h("button", { type: "button", class: "cm-pg-fork-alt", role: "menuitem", disabled: !!model.get("running") },
        h("span", { class: "cm-pg-fork-tok", text: shown }), h("span", { text: `${(p * 100).toFixed(1)}%` }));
      b.addEventListener("click", () => {
        closeFork();
        send("fork", { position: piece.position, token });
      });
      return b;
    });
    forkMenu.replaceChildren(h("div", { class: "cm-pg-fork-head", text: `fork at #${piece.position}, instead of ${piece.chosen}:` }), ...items);
    const r = node.getBoundingClientRect();
    const base = lp.getBoundingClientRect();
    forkMenu.style.left = `${Math.max(0, r.left - base.left)}px`;
    forkMenu.style.top = `${r.bottom - base.top + 4}px`;
    forkMenu.hidden = false;
    const first = forkMenu.querySelector("button");
    if (first) first.focus();
  };
  listen(lp, "click", (e) => {
    const node = e.target.closest && e.target.closest(".cm-pg-forkable");
    if (node) openFork(node);
    else if (!forkMenu.contains(e.target)) closeFork();
  });
  listen(lp, "keydown", (e) => {
    if (e.key === "Escape") closeFork();
    else if (e.key === "Enter" && e.target.classList && e.target.classList.contains("cm-pg-forkable")) {
      e.preventDefault();
      openFork(e.target);
    }
  });
  const renderLogprobs = () => {
    const v = model.get("logprobs_html") || "";
    if (lp.dataset.shown !== v) {
      lp.innerHTML = v; // built and escaped by cerebras_magic.logprobs (Python); see the header comment
      lp.dataset.shown = v;
      lp.hidden = v === "";
      lp.append(forkMenu);
    }
    closeFork();
    markForkable();
  };
  let convShown = null;
  function renderConversation() {
    const list = model.get("conversation") || [];
    const msgs = model.get("chat_mode") ? [...list] : [];
    const last = msgs[msgs.length - 1];
    // the latest answer is already in the answer area below
    if (last && last.role === "assistant" && last.content === (model.get("output") || "")) msgs.pop();
    if (convShown && convShown.list === list && convShown.length === msgs.length) return; // called per output update
    convShown = { list, length: msgs.length };
    const nodes = msgs.map((m) =>
      h("div", { class: `cm-pg-msg cm-pg-role-${String(m.role || "").replace(/\W/g, "")}` },
        h("span", { class: "cm-pg-role", text: m.role || "?" }),
        h("div", { class: "cm-pg-content", text: typeof m.content === "string" ? m.content : JSON.stringify(m.content) })));
    conv.replaceChildren(...nodes);
    conv.hidden = nodes.length === 0;
    conv.scrollTop = conv.scrollHeight; // the newest turn
  }
  const renderRuns = () => {
    const list = model.get("runs") || [];
    runsCount.textContent = `(${list.length})`;
    runs.hidden = list.length === 0;
    const items = list.slice().reverse().map((r) => {
      const bits = [`${RUN_MARK[r.status] || "·"} ${r.status || "?"}`, r.model || "?"];
      if (isNum(r.tokens)) bits.push(`${fmtInt(r.tokens)} tok`);
      if (isNum(r.tokens_per_second)) bits.push(`${fmtInt(r.tokens_per_second)} tok/s`);
      const b = h("button", { type: "button", class: "cm-pg-run-item", "data-status": r.status || "", "data-id": r.id ?? "",
        title: "Put this run's prompt and settings back into the panel" },
        h("span", { class: "cm-pg-run-meta", text: bits.join(" · ") }),
        h("span", { class: "cm-pg-run-prompt", text: r.prompt || "" }));
      b.addEventListener("click", () => send("restore", { id: String(r.id) }));
      return h("li", {}, b);
    });
    runsList.replaceChildren(...items);
  };
  const renderCell = () => {
    const v = model.get("cell") || "";
    if (cellBox.value !== v) cellBox.value = v;
    cellBox.rows = Math.min(10, Math.max(2, v.split("\n").length));
  };
  listen(copyBtn, "click", async () => {
    const v = model.get("cell") || "";
    renderCell();
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(v);
        copied = true;
      }
    } catch (_) {
      copied = false;
    }
    if (copied) {
      copyNote.textContent = "Copied: paste it into a new cell.";
    } else {
      cellBox.focus();
      cellBox.select();
      copyNote.textContent = "Clipboard unavailable here: the cell is selected below, press Ctrl+C (⌘C).";
    }
  });

  // ---------- write back (%%cerebras --panel): the cell that holds this panel gets the panel's settings ----------
  const renderWriteBack = () => (writeBtn.hidden = !model.get("write_back"));
  listen(writeBtn, "click", () => {
    const v = model.get("write_back") || "";
    const view = cellEditor(el);
    if (view) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v } });
      copyNote.textContent = "Written back: the cell now holds the panel's settings.";
    } else {
      cellBox.value = v;
      cellBox.focus();
      cellBox.select();
      copyNote.textContent = "Write back needs JupyterLab or Notebook 7: the cell text is selected below, copy it (Ctrl+C).";
    }
  });
  on("change:write_back", renderWriteBack);
  renderWriteBack();

  on("change:running", renderRunning);
  on("change:stats", renderStats);
  on("change:updates", renderStats);
  on("change:status", renderStatus);
  on("change:output", () => {
    renderOutput();
    if (model.get("chat_mode")) renderConversation();
  });
  on("change:reasoning", renderReasoning);
  on("change:error", renderError);
  on("change:logprobs_html", renderLogprobs);
  on("change:fork_pieces", renderLogprobs);
  on("change:conversation", renderConversation);
  on("change:runs", renderRuns);
  on("change:cell", renderCell);

  renderRunning();
  renderStatus();
  renderOutput();
  renderReasoning();
  renderError();
  renderLogprobs();
  renderRuns();
  renderCell();
  layout();

  return () => {
    if (timer) clearInterval(timer);
    for (const [name, cb] of offModel) model.off(name, cb);
    for (const [node, type, cb] of offDom) node.removeEventListener(type, cb);
    root.remove();
  };
}

export default { render };
