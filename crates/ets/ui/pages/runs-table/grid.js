// A virtualised data grid (WAI-ARIA grid pattern): only the cells in view exist in the DOM, so
// 10,000 rows × 1,000 columns scroll like 30 × 15. The header row sticks to the top and pinned
// columns to the left (CSS `position: sticky`, so the compositor keeps them still while the
// rows scroll); one cell is in the tab order (roving tabindex) and arrow keys move it.

import { h, status } from "../../dom.js";
import { SELECT } from "./columns.js";

const ROW = 30; // px, also in style.css (.rt-row)
const HEAD = 44; // px, also in style.css (.rt-head .rt-row)
const OVER_ROWS = 6;
const OVER_COLS = 2;

export class Grid {
  /**
   * `label`: id of the element naming the grid. Callbacks get the row index into the rows
   * given to `setRows`: `onOpen(i)`, `onToggle(i)`, `onToggleAll()`, `onSort(column)`;
   * `isSelected(run)` and `allSelected()` (`true`, `false` or `"mixed"`) read the selection.
   */
  constructor(options) {
    this.o = options;
    this.rows = [];
    this.cols = [];
    this.x = [0];
    this.pinned = 0;
    this.sort = null;
    this.active = { r: 0, c: 1 };
    this.drawn = "";
    this.cache = new Map(); // row index → row element in view
    this.tabCell = null; // the cell in the tab order
    this.widthPx = "0px";
    this.head = h("div", { class: "rt-head", role: "rowgroup" });
    this.body = h("div", { class: "rt-body", role: "rowgroup" });
    this.el = h(
      "div",
      {
        class: "rt-grid",
        id: "runs-grid",
        role: "grid",
        tabindex: "-1",
        "aria-labelledby": options.label,
        "aria-multiselectable": "true",
        onscroll: () => this.render(),
        onkeydown: (e) => this.key(e),
        onclick: (e) => this.click(e),
        onchange: (e) => this.change(e),
        onfocusin: (e) => this.focusIn(e),
      },
      this.head,
      this.body,
    );
    this.resize = new ResizeObserver(() => this.render());
    this.resize.observe(this.el);
  }

  destroy() {
    this.resize.disconnect();
  }

  /** The columns in display order (pinned ones first, `pinned` of them) and the sort. */
  setColumns(cols, pinned, sort) {
    this.cols = cols;
    this.pinned = pinned;
    this.sort = sort;
    this.x = [0];
    for (const col of cols) this.x.push(this.x[this.x.length - 1] + col.width);
    this.active.c = Math.min(this.active.c, cols.length - 1);
    this.el.setAttribute("aria-colcount", String(cols.length));
    this.render(true);
  }

  setRows(rows) {
    this.rows = rows;
    this.active.r = Math.min(this.active.r, rows.length - 1);
    this.el.setAttribute("aria-rowcount", String(rows.length + 1));
    this.body.style.height = `${rows.length * ROW}px`;
    this.render(true);
  }

  /**
   * Draws the cells in view; `force` after the data or the selection changed. Rows and cells
   * still in view are kept (scrolling by a few rows builds only the new ones).
   */
  render(force = false) {
    const vp = this.el;
    const top = vp.scrollTop;
    const left = vp.scrollLeft;
    const r0 = Math.max(0, Math.floor(top / ROW) - OVER_ROWS);
    const r1 = Math.min(this.rows.length, Math.ceil((top + vp.clientHeight - HEAD) / ROW) + OVER_ROWS);
    const pinW = this.x[this.pinned];
    const c0 = Math.max(this.pinned, this.colAt(left + pinW) - OVER_COLS);
    const c1 = Math.min(this.cols.length, this.colAt(left + vp.clientWidth) + 1 + OVER_COLS);
    const colsKey = `${c0} ${c1}`;
    const key = `${r0} ${r1} ${colsKey}`;
    if (!force && key === this.drawn) return;
    this.drawn = key;
    const hadFocus = vp.contains(document.activeElement);
    if (force) {
      this.cache = new Map();
      this.widthPx = `${this.x[this.x.length - 1]}px`;
      this.head.style.width = this.body.style.width = this.widthPx;
    }
    const visible = [];
    for (let c = 0; c < this.pinned; c++) visible.push(c);
    for (let c = c0; c < c1; c++) visible.push(c);
    if (force || this.headKey !== colsKey) {
      this.headKey = colsKey;
      this.head.replaceChildren(this.row(-1, visible, c0, colsKey));
    }
    this.body.style.paddingTop = `${r0 * ROW}px`;
    const next = new Map();
    const rows = [];
    for (let r = r0; r < r1; r++) {
      let el = this.cache.get(r);
      if (!el) el = this.row(r, visible, c0, colsKey);
      else if (el._cols !== colsKey) this.updateRow(el, visible, c0, colsKey);
      next.set(r, el);
      rows.push(el);
    }
    this.cache = next;
    place(this.body, rows, (el) => next.get(el._r) === el);
    const cell = this.cellEl(this.active.r, this.active.c);
    if (this.tabCell && this.tabCell !== cell) this.tabCell.tabIndex = -1;
    if (cell) cell.tabIndex = 0;
    this.tabCell = cell;
    vp.tabIndex = cell ? -1 : 0;
    if (hadFocus && document.activeElement !== cell) (cell || vp).focus({ preventScroll: true });
  }

  /** Index of the column under x (content coordinates). */
  colAt(x) {
    let lo = 0;
    let hi = this.cols.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.x[mid] <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  row(r, visible, c0, colsKey) {
    const run = r >= 0 ? this.rows[r] : null;
    const el = document.createElement("div");
    el.setAttribute("role", "row");
    el.setAttribute("aria-rowindex", String(r + 2));
    el._r = r;
    el._cells = new Map();
    el._selected = run ? this.o.isSelected(run) : false;
    el.className = el._selected ? "rt-row rt-sel" : "rt-row";
    if (run) el.setAttribute("aria-selected", String(el._selected));
    el.style.width = this.widthPx;
    this.updateRow(el, visible, c0, colsKey);
    return el;
  }

  /** Makes the row hold the cells of `visible` columns, reusing those it has. */
  updateRow(el, visible, c0, colsKey) {
    const r = el._r;
    const run = r >= 0 ? this.rows[r] : null;
    const cells = new Map();
    const list = [];
    for (const c of visible) {
      let cell = el._cells.get(c);
      if (!cell) cell = this.makeCell(r, c, run, el._selected);
      if (c >= this.pinned) cell.style.marginLeft = c === c0 ? `${this.x[c] - this.x[this.pinned]}px` : "";
      cells.set(c, cell);
      list.push(cell);
    }
    el._cells = cells;
    el._cols = colsKey;
    place(el, list, (cell) => cells.get(cell._c) === cell);
  }

  makeCell(r, c, run, selected) {
    const col = this.cols[c];
    const cell = run ? this.cell(col, run, selected) : this.headCell(col);
    cell.className = c < this.pinned ? (c === this.pinned - 1 ? "rt-cell rt-pin rt-pin-last" : "rt-cell rt-pin") : "rt-cell";
    if (col.numeric) cell.classList.add("rt-num");
    cell.setAttribute("aria-colindex", String(c + 1));
    cell.tabIndex = -1;
    cell._r = r;
    cell._c = c;
    cell.style.width = `${col.width}px`;
    if (c < this.pinned) cell.style.left = `${this.x[c]}px`;
    return cell;
  }

  headCell(col) {
    if (col.id === SELECT) {
      const all = this.o.allSelected();
      const box = h("input", { type: "checkbox", tabindex: "-1", "aria-label": "Select all runs in the table", class: "rt-all" });
      box.checked = all === true;
      box.indeterminate = all === "mixed";
      return h("div", { role: "columnheader" }, box);
    }
    const sorted = this.sort && this.sort.id === col.id;
    const cell = h(
      "div",
      { role: "columnheader", title: col.kind ? `${col.kind} ${col.label}` : col.label, dataset: { col: col.id } },
      col.kind ? h("span", { class: "rt-kind" }, col.kind) : null,
      h("span", { class: "rt-label" }, col.label, sorted ? h("span", { class: "rt-arrow", "aria-hidden": "true" }, this.sort.desc ? " ▼" : " ▲") : null),
    );
    if (sorted) cell.setAttribute("aria-sort", this.sort.desc ? "descending" : "ascending");
    return cell;
  }

  cell(col, run, selected) {
    const el = document.createElement("div");
    el.setAttribute("role", "gridcell");
    if (col.id === SELECT) {
      const box = h("input", { type: "checkbox", tabindex: "-1", "aria-label": `Select run ${run.name || run.id}` });
      box.checked = selected;
      el.append(box);
    } else if (col.id === "name") {
      el.append(h("a", { href: `#/runs/${encodeURIComponent(run.id)}`, tabindex: "-1" }, run.name || run.id));
    } else if (col.id === "status") {
      el.append(status(run.status));
    } else {
      const text = col.text(run);
      el.textContent = text;
      if (text.length > 12) el.title = text;
    }
    return el;
  }

  cellEl(r, c) {
    const rowEl = r < 0 ? this.head.firstChild : this.cache.get(r);
    return (rowEl && rowEl._cells.get(c)) || null;
  }

  /** Moves the active cell to (r, c), scrolls it into view and focuses it. */
  moveTo(r, c) {
    r = Math.max(-1, Math.min(this.rows.length - 1, r));
    c = Math.max(0, Math.min(this.cols.length - 1, c));
    this.active = { r, c };
    const vp = this.el;
    const view = vp.clientHeight - HEAD;
    if (r >= 0) {
      if (r * ROW < vp.scrollTop) vp.scrollTop = r * ROW;
      else if ((r + 1) * ROW > vp.scrollTop + view) vp.scrollTop = (r + 1) * ROW - view;
    }
    if (c >= this.pinned) {
      const pinW = this.x[this.pinned];
      if (this.x[c] < vp.scrollLeft + pinW) vp.scrollLeft = this.x[c] - pinW;
      else if (this.x[c + 1] > vp.scrollLeft + vp.clientWidth) vp.scrollLeft = this.x[c + 1] - vp.clientWidth;
    }
    this.render();
    const cell = this.cellEl(r, c);
    if (this.tabCell && this.tabCell !== cell) this.tabCell.tabIndex = -1;
    this.tabCell = cell;
    this.el.tabIndex = cell ? -1 : 0;
    if (cell) {
      cell.tabIndex = 0;
      cell.focus({ preventScroll: true });
    }
  }

  key(e) {
    const { r, c } = this.active;
    const page = Math.max(1, Math.floor((this.el.clientHeight - HEAD) / ROW) - 1);
    const inControl = e.target.tagName === "INPUT" || e.target.tagName === "A";
    const moves = {
      ArrowUp: [r - 1, c],
      ArrowDown: [r + 1, c],
      ArrowLeft: [r, c - 1],
      ArrowRight: [r, c + 1],
      PageUp: [Math.max(0, r - page), c],
      PageDown: [r + page, c],
      Home: e.ctrlKey ? [0, 0] : [r, 0],
      End: e.ctrlKey ? [this.rows.length - 1, this.cols.length - 1] : [r, this.cols.length - 1],
    };
    if (moves[e.key]) {
      e.preventDefault();
      this.moveTo(...moves[e.key]);
    } else if (e.key === "Enter" && !inControl) {
      e.preventDefault();
      if (r >= 0) this.o.onOpen(r);
      else if (this.cols[c].id !== SELECT) this.o.onSort(this.cols[c]);
    } else if (e.key === " " && !inControl) {
      e.preventDefault();
      if (r >= 0) this.o.onToggle(r);
      else if (this.cols[c].id === SELECT) this.o.onToggleAll();
      else this.o.onSort(this.cols[c]);
    }
  }

  cellOf(target) {
    const cell = target.closest(".rt-cell");
    return cell && this.el.contains(cell) ? cell : null;
  }

  focusIn(e) {
    const cell = this.cellOf(e.target);
    if (!cell) return;
    if (cell !== this.tabCell) {
      if (this.tabCell) this.tabCell.tabIndex = -1;
      this.active = { r: cell._r, c: cell._c };
      cell.tabIndex = 0;
      this.tabCell = cell;
      this.el.tabIndex = -1;
    }
  }

  click(e) {
    const cell = this.cellOf(e.target);
    if (!cell) return;
    if (e.target.tagName !== "INPUT" && e.target.tagName !== "A") cell.focus({ preventScroll: true });
    if (cell._r < 0 && this.cols[cell._c].id !== SELECT) this.o.onSort(this.cols[cell._c]);
  }

  change(e) {
    const cell = this.cellOf(e.target);
    if (!cell || e.target.type !== "checkbox") return;
    if (cell._r < 0) this.o.onToggleAll();
    else this.o.onToggle(cell._r);
  }
}

/**
 * Makes `parent`'s children exactly `wanted` (in order): children that `keep` rejects are
 * removed, kept ones stay where they are, new ones are inserted (no node is moved needlessly).
 */
function place(parent, wanted, keep) {
  for (const child of [...parent.children]) if (!keep(child)) child.remove();
  let ref = parent.firstChild;
  for (const el of wanted) {
    if (el === ref) ref = ref.nextSibling;
    else parent.insertBefore(el, ref);
  }
}
