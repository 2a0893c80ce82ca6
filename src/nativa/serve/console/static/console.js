// nativa console: copy buttons and live progress over server-sent events. No framework, no build step.
// Everything it writes into the page goes in as text (textContent), never as markup.
"use strict";

function copyFrom(button) {
  const target = document.getElementById(button.dataset.copy);
  if (!target) return;
  const text = target.textContent;
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectText(target, done));
  } else {
    selectText(target, done);
  }
}

function selectText(node, done) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected: Ctrl-C */ }
}

function describe(event) {
  if (event.type === "attempt") {
    let line = "attempt " + event.number + " " + (event.phase || "");
    if (event.outcome) line += ": " + event.outcome;
    if (event.error_type) line += " (" + event.error_type + ")";
    return line;
  }
  if (event.type === "step") return "step: " + (event.tool || "?") + (event.error ? " (error)" : "");
  return event.type || "event";
}

function follow(node) {
  const source = new EventSource(node.dataset.events);
  const list = node.tagName === "OL" || node.tagName === "UL";
  source.addEventListener("progress", (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (list) {
      const item = document.createElement("li");
      item.textContent = describe(event);
      node.appendChild(item);
    } else {
      node.textContent = describe(event);
    }
  });
  source.addEventListener("end", () => {
    source.close();
    if (node.dataset.reload) window.location.reload();
  });
  source.onerror = () => { source.close(); };
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy]").forEach((b) => b.addEventListener("click", () => copyFrom(b)));
  document.querySelectorAll("[data-events]").forEach((n) => follow(n));
});
