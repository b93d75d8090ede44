// The column picker: find columns by name, show or hide them, pin them to the left. With
// thousands of keys only the first matches are listed; typing narrows the list.

import { h } from "../../dom.js";
import { column } from "./columns.js";

const LISTED = 200;

/**
 * `state`: `ids()` every column id, `shown(id)`, `pinned(id)`; `setShown(ids, show)` and
 * `setPinned(id, pin)` change them. Returns `{button, panel}` to place in the page.
 */
export function columnPicker(state) {
  const list = h("ul", { class: "rt-picker-list", "aria-label": "Columns" });
  const more = h("p", { class: "muted rt-picker-more" });
  const find = h("input", { type: "search", id: "runs-columns-find", placeholder: "Find a column", "aria-label": "Find a column", oninput: () => draw() });
  const matching = () => {
    const needle = find.value.trim().toLowerCase();
    return state.ids().filter((id) => (!needle || id.toLowerCase().includes(needle)));
  };
  const button = h("button", {
    type: "button",
    class: "secondary",
    id: "runs-columns-button",
    "aria-expanded": "false",
    "aria-controls": "runs-columns",
    onclick: () => toggle(panel.hidden),
  }, "Columns");
  const panel = h(
    "div",
    {
      class: "rt-picker",
      id: "runs-columns",
      role: "region",
      "aria-label": "Column picker",
      hidden: true,
      onkeydown: (e) => {
        if (e.key === "Escape") {
          toggle(false);
          button.focus();
        }
      },
    },
    h(
      "div",
      { class: "toolbar" },
      find,
      h("button", { type: "button", class: "secondary", onclick: () => (state.setShown(matching(), true), draw()) }, "Show all"),
      h("button", { type: "button", class: "secondary", onclick: () => (state.setShown(matching(), false), draw()) }, "Hide all"),
      h("button", { type: "button", class: "secondary", onclick: () => toggle(false) }, "Close"),
    ),
    h("p", { class: "muted" }, "Pinned columns stay on the left while the table scrolls sideways. \"Show all\" and \"Hide all\" act on the columns that match."),
    list,
    more,
  );

  function toggle(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) {
      draw();
      find.focus();
    }
  }

  function draw() {
    // Redrawing replaces the controls: keep the focus on the same column's control.
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const keep = focused && [focused.closest("li").dataset.col, focused.tagName];
    const ids = matching();
    const items = ids.slice(0, LISTED).map((id, i) => {
      const col = column(id);
      const name = col.kind ? `${col.kind} ${col.label}` : col.label;
      const boxId = `runs-col-${i}`;
      const box = h("input", {
        type: "checkbox",
        id: boxId,
        onchange: () => state.setShown([id], box.checked),
      });
      box.checked = state.shown(id);
      box.disabled = id === "name"; // the name is the link to the run: always shown
      const pinned = state.pinned(id);
      return h(
        "li",
        { dataset: { col: id } },
        box,
        h("label", { for: boxId }, col.kind ? h("span", { class: "rt-kind" }, col.kind, " ") : null, col.label),
        h("button", {
          type: "button",
          class: "link rt-pin-toggle",
          "aria-pressed": String(pinned),
          "aria-label": `Pin ${name}`,
          onclick: (e) => {
            const now = e.currentTarget.getAttribute("aria-pressed") !== "true";
            state.setPinned(id, now);
            e.currentTarget.setAttribute("aria-pressed", String(now));
            if (now) box.checked = true;
          },
        }, "Pin"),
      );
    });
    list.replaceChildren(...items);
    if (keep) {
      const li = items.find((item) => item.dataset.col === keep[0]);
      const control = li && [...li.querySelectorAll("input, button")].find((el) => el.tagName === keep[1]);
      if (control) control.focus();
    }
    more.textContent = ids.length > LISTED ? `${(ids.length - LISTED).toLocaleString("en-US")} more columns: type to narrow the list.` : "";
  }

  return { button, panel, refresh: () => panel.hidden || draw() };
}
