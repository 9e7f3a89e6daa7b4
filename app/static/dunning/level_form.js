/* Dunning level form: show only the fields that matter for the chosen "days counted from" and
   fee rule. The server ignores the hidden ones anyway (app/dunning/level_form.py). */
(function () {
  "use strict";
  function row(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    return el.closest("tr") || el.closest(".form-group") || el.parentNode;
  }
  function show(id, visible) {
    var r = row(id);
    if (r) { r.style.display = visible ? "" : "none"; }
  }
  function update() {
    var basis = document.getElementById("days_basis");
    var fee = document.getElementById("fee_rule");
    if (basis) { show("days_after_due", basis.value !== "previous"); }
    if (fee) { show("fee_amount", fee.value === "fixed"); }
  }
  function watch(id) {
    var el = document.getElementById(id);
    if (!el) { return; }
    el.addEventListener("change", update);
    if (window.jQuery) { window.jQuery(el).on("change", update); }  /* select2 */
  }
  document.addEventListener("DOMContentLoaded", function () {
    watch("days_basis");
    watch("fee_rule");
    update();
  });
}());
