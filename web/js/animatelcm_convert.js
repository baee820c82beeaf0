// Offers to convert a workflow built on ComfyUI-AnimateDiff-Evolved (or the older AnimateDiff pack, or FizzNodes'
// prompt schedules) to this pack's nodes when those packs are not installed. The conversion itself runs in Python
// (tools/convert, behind POST /animatelcm/convert); this file only detects, asks, and loads the result.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const BANNER_ID = "alcm-convert-banner";
let convertible = null;   // node types the converter handles, from the server
let pending = null;       // {workflow, found}: a copy of the workflow being opened while it holds missing, convertible nodes
const BANNER_STYLE = "position:fixed;top:56px;left:50%;transform:translateX(-50%);z-index:100000;max-width:760px;" +
  "max-height:60vh;overflow:auto;padding:10px 14px;border-radius:6px;background:#1e1e1e;color:#eee;" +
  "border:1px solid #2b6cb0;box-shadow:0 4px 16px rgba(0,0,0,.5);font:14px sans-serif";

async function loadConvertible() {
  if (convertible) return convertible;
  try {
    const r = await api.fetchApi("/animatelcm/convert/info");
    convertible = r.ok ? new Set((await r.json()).types) : new Set();
  } catch (e) {
    convertible = new Set();
  }
  return convertible;
}

function workflowNodeTypes(graphData) {
  const types = [];
  for (const n of graphData?.nodes ?? []) types.push(n.type);
  for (const sg of graphData?.definitions?.subgraphs ?? []) for (const n of sg.nodes ?? []) types.push(n.type);
  return types;
}

function missingConvertible(graphData) {
  const registered = globalThis.LiteGraph?.registered_node_types ?? {};
  const found = new Map();
  for (const t of workflowNodeTypes(graphData)) {
    if (convertible.has(t) && !(t in registered)) found.set(t, (found.get(t) ?? 0) + 1);
  }
  return found;
}

function newBanner(state) {
  document.getElementById(BANNER_ID)?.remove();
  const banner = document.createElement("div");
  banner.id = BANNER_ID;
  banner.dataset.state = state;
  banner.style.cssText = BANNER_STYLE;
  document.body.append(banner);
  return banner;
}

function removeBanner() {
  document.getElementById(BANNER_ID)?.remove();
}

function button(id, text, onClick) {
  const b = document.createElement("button");
  b.id = id;
  b.textContent = text;
  b.style.cssText = "margin-left:8px;padding:4px 10px;cursor:pointer;border-radius:4px;border:1px solid #888;" +
    "background:#2b6cb0;color:#fff;font:inherit";
  b.addEventListener("click", onClick);
  return b;
}

function showBanner(found) {
  const total = [...found.values()].reduce((a, b) => a + b, 0);
  const banner = newBanner("offer");
  const text = document.createElement("span");
  text.id = "alcm-convert-text";
  text.textContent = `This workflow uses ${total} node(s) of packs that are not installed ` +
    `(${[...found.keys()].join(", ")}). AnimateLCM can convert them to its own nodes.`;
  banner.append(text, button("alcm-convert-button", "Convert to AnimateLCM nodes", convert),
                button("alcm-convert-dismiss", "Dismiss", () => { pending = null; removeBanner(); }));
}

function showReport(result) {
  const banner = newBanner(result.error ? "error" : "converted");
  const title = document.createElement("div");
  title.textContent = result.error ? `Conversion failed: ${result.error}` :
    "Converted to AnimateLCM nodes. Report (what changed, and any option that will differ):";
  const list = document.createElement("pre");
  list.id = "alcm-convert-report";
  list.style.cssText = "white-space:pre-wrap;margin:6px 0";
  list.textContent = (result.report ?? []).join("\n");
  banner.append(title, list, button("alcm-convert-dismiss", "Close", removeBanner));
}

async function convert() {
  const workflow = pending?.workflow;
  pending = null;
  let result;
  try {
    const r = await api.fetchApi("/animatelcm/convert", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ workflow }),
    });
    result = await r.json();
    if (!r.ok) result = { error: result.error ?? r.statusText, report: result.report };
  } catch (e) {
    result = { error: String(e) };
  }
  if (!result.error) await app.loadGraphData(result.workflow);
  showReport(result);
}

app.registerExtension({
  name: "AnimateLCM.ConvertWorkflow",
  async setup() {
    await loadConvertible();
  },
  async beforeConfigureGraph(graphData) {
    await loadConvertible();
    const found = graphData ? missingConvertible(graphData) : new Map();
    pending = found.size ? { workflow: JSON.parse(JSON.stringify(graphData)), found } : null;
    if (!pending) removeBanner();
  },
  async afterConfigureGraph() {
    if (pending) showBanner(pending.found);
  },
});
