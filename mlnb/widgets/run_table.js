// The runs table of mlnb.compare: sortable headers, row checkboxes, paging.
// State lives in the Python model; this view only renders it and sends clicks back.
function cell(value, column) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && !Number.isInteger(value)) return value.toPrecision(4);
  if (column === "run_id") return String(value).slice(0, 8);
  return String(value);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "mlnb-run-table";
  el.appendChild(root);

  const draw = () => {
    const columns = model.get("columns");
    const rows = model.get("rows");
    const ids = model.get("run_ids");
    const selected = new Set(model.get("selected"));
    const sortBy = model.get("sort_by");
    const descending = model.get("descending");
    root.replaceChildren();

    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    const all = document.createElement("th");
    const allBox = document.createElement("input");
    allBox.type = "checkbox";
    allBox.title = "select this page";
    allBox.checked = ids.length > 0 && ids.every((id) => selected.has(id));
    allBox.onchange = () => {
      const next = new Set(selected);
      ids.forEach((id) => (allBox.checked ? next.add(id) : next.delete(id)));
      model.set("selected", [...next]);
      model.save_changes();
    };
    all.appendChild(allBox);
    head.appendChild(all);
    columns.forEach((column) => {
      const th = document.createElement("th");
      const arrow = column === sortBy ? (descending ? " ▼" : " ▲") : "";
      th.textContent = column.replace(/^(params|metrics)\./, "") + arrow;
      th.title = `sort by ${column}`;
      th.dataset.column = column;
      th.onclick = () => {
        model.set("descending", column === sortBy ? !descending : false);
        model.set("sort_by", column);
        model.set("page", 0);
        model.save_changes();
      };
      head.appendChild(th);
    });

    const body = table.createTBody();
    rows.forEach((row, i) => {
      const tr = body.insertRow();
      tr.dataset.runId = ids[i];
      if (selected.has(ids[i])) tr.className = "mlnb-selected";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = selected.has(ids[i]);
      box.onchange = () => {
        const next = new Set(model.get("selected"));
        box.checked ? next.add(ids[i]) : next.delete(ids[i]);
        model.set("selected", [...next]);
        model.save_changes();
      };
      tr.insertCell().appendChild(box);
      row.forEach((value, j) => {
        const td = tr.insertCell();
        td.textContent = cell(value, columns[j]);
        if (columns[j] === "status") td.className = `mlnb-status-${value}`;
      });
    });
    root.appendChild(table);

    const pager = document.createElement("div");
    pager.className = "mlnb-pager";
    const page = model.get("page");
    const pages = model.get("pages");
    const button = (label, target) => {
      const b = document.createElement("button");
      b.textContent = label;
      b.disabled = target < 0 || target >= pages || target === page;
      b.onclick = () => {
        model.set("page", target);
        model.save_changes();
      };
      pager.appendChild(b);
    };
    button("«", 0);
    button("‹", page - 1);
    const info = document.createElement("span");
    info.textContent = ` page ${page + 1} of ${pages} · ${model.get("total")} runs · ${selected.size} selected `;
    pager.appendChild(info);
    button("›", page + 1);
    button("»", pages - 1);
    root.appendChild(pager);
  };

  draw();
  for (const name of ["columns", "rows", "run_ids", "selected", "sort_by", "descending", "page", "pages", "total"]) {
    model.on(`change:${name}`, draw);
  }
}

export default { render };
