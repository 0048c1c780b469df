/* policyaudit report: sorting and filtering for tables that are complete without this script.
   Plain ES5-compatible JavaScript, no dependencies, no network. */
(function () {
  "use strict";

  function cellKey(row, index, type) {
    var cell = row.cells[index];
    if (!cell) { return type === "num" ? Infinity : ""; }
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
    if (type === "num") {
      var n = parseFloat(raw);
      return isNaN(n) ? Infinity : n;
    }
    return raw.trim().toLowerCase();
  }

  function sortTable(table, index, type, dir) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "descending" ? -1 : 1;
    rows.sort(function (a, b) {
      var ka = cellKey(a, index, type), kb = cellKey(b, index, type);
      if (type === "num") {
        if (ka === kb) { return 0; }
        if (ka === Infinity) { return 1; }   // empty values last in both directions
        if (kb === Infinity) { return -1; }
        return sign * (ka - kb);
      }
      return sign * ka.localeCompare(kb);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function makeSortable(table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      var type = th.getAttribute("data-sort");
      if (!type) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var first = th.getAttribute("data-first") === "desc" ? "descending" : "ascending";
        var dir = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir);
        sortTable(table, index, type, dir);
      });
    });
  }

  function setUpFilters(form) {
    var selects = form.querySelectorAll("select[data-filter]");
    var tables = document.querySelectorAll("table.filterable");
    var count = form.querySelector("#filter-count");
    function apply() {
      var wanted = {};
      Array.prototype.forEach.call(selects, function (s) { wanted[s.getAttribute("data-filter")] = s.value; });
      var shown = 0, total = 0;
      Array.prototype.forEach.call(tables, function (table) {
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          var ok = true;
          Object.keys(wanted).forEach(function (key) {
            if (wanted[key] !== "" && row.getAttribute("data-" + key) !== wanted[key]) { ok = false; }
          });
          row.hidden = !ok;
          total += 1;
          if (ok) { shown += 1; }
        });
      });
      if (count) { count.textContent = shown + " / " + total; }
    }
    Array.prototype.forEach.call(selects, function (s) { s.addEventListener("change", apply); });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.hidden = false;
    apply();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    var form = document.getElementById("filters");
    if (form) { setUpFilters(form); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
