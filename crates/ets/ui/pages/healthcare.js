// The crisis-detection view: per healthcare experiment, each run's crisis-detection rate,
// false-negative rate and response quality against the experiment's thresholds; breaches
// marked. The charts and the report come from the visualization API (HTML, PDF). Below, the
// alerts of the projects in view: open ones can be acknowledged here.

import { get, post, query } from "../api.js";
import { errorBox } from "../app.js";
import { fill, h, heading, num, status, time } from "../dom.js";

export async function render(main, _params, params) {
  const filter = { project_id: params.get("project") || "", experiment_id: params.get("experiment") || "" };
  const answer = await get(`/api/v1/visualizations/healthcare/crisis-detection-dashboard${query(filter)}`);
  const panels = answer.items || [];
  const report = (format) => `/api/v1/visualizations/healthcare/crisis-detection-dashboard${query({ ...filter, format })}`;
  fill(
    main,
    heading("Healthcare: crisis detection"),
    h(
      "p",
      { class: "toolbar" },
      "Report: ",
      h("a", { href: report("pdf"), download: "" }, "PDF"),
      h("a", { href: report("html"), download: "" }, "HTML (interactive charts)"),
    ),
    panels.length
      ? panels.map((p) => panel(p))
      : h("p", { class: "muted" }, "No experiment with a healthcare configuration yet (see the experiments' healthcare settings)."),
    await alerts(filter),
  );
}

/** The latest alerts (open ones first to act on), each with its run and what fired it. */
async function alerts(filter) {
  const section = h("section", { class: "card", "aria-labelledby": "alerts-heading" });
  const show = async () => {
    const list = await get(`/api/v1/alerts${query({ ...filter, page_size: 50 })}`);
    const items = list.items || [];
    fill(
      section,
      h("h2", { id: "alerts-heading" }, "Alerts"),
      items.length
        ? h(
            "table",
            { class: "list" },
            h("thead", {}, h("tr", {}, ["State", "Fired", "Run", "Why", ""].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              items.map((a) =>
                h(
                  "tr",
                  { class: a.state === "firing" ? "breach" : "" },
                  h("td", {}, a.state),
                  h("td", {}, time(a.fired_at)),
                  h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(a.run_id)}` }, a.run_id.slice(0, 8))),
                  h("td", {}, a.message),
                  h(
                    "td",
                    {},
                    a.state === "firing"
                      ? h(
                          "button",
                          {
                            type: "button",
                            onclick: async () => {
                              try {
                                await post(`/api/v1/alerts/${encodeURIComponent(a.id)}/acknowledge`);
                                await show();
                              } catch (error) {
                                section.append(errorBox(error));
                              }
                            },
                          },
                          "Acknowledge",
                        )
                      : a.acknowledged_by
                        ? `acknowledged by ${a.acknowledged_by}`
                        : "",
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No alerts. Rules are made with POST /api/v1/alerts/rules (see docs/healthcare.md)."),
    );
  };
  await show();
  return section;
}

function panel(p) {
  const thresholds = p.thresholds || {};
  const keys = Object.keys(thresholds).filter((k) => typeof thresholds[k] === "number");
  return h(
    "section",
    { class: "card healthcare-panel", "aria-labelledby": `hc-${p.experiment_id}` },
    h("h2", { id: `hc-${p.experiment_id}` }, h("a", { href: `#/experiments/${encodeURIComponent(p.experiment_id)}` }, p.experiment_name)),
    keys.length
      ? h("p", { class: "muted" }, "Thresholds: ", keys.map((k) => `${k.replaceAll("_", " ")} ${num(thresholds[k])}`).join(" · "))
      : null,
    h(
      "table",
      { class: "list" },
      h("thead", {}, h("tr", {}, ["Run", "Status", "Crisis detection rate", "False-negative rate", "Response quality", "Breaches"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        (p.runs || []).map((r) =>
          h(
            "tr",
            { class: r.breaches && r.breaches.length ? "breach" : "" },
            h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(r.run_id)}` }, r.name)),
            h("td", {}, status(r.status)),
            h("td", {}, num(r.crisis_detection_rate)),
            h("td", {}, num(r.false_negative_rate)),
            h("td", {}, num(r.response_quality)),
            h(
              "td",
              {},
              r.breaches && r.breaches.length
                ? r.breaches.map((b) => h("div", {}, `⚠ ${b.metric} ${num(b.value)} (threshold ${b.rule} ${num(b.threshold)})`))
                : "within thresholds",
            ),
          ),
        ),
      ),
    ),
  );
}
