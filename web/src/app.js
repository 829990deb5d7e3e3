// Behaviour shared by every page; htmx does the partial updates, this only wires the tree to the
// table's filters. Written for plain browsers: no build step, no framework.
(function () {
  "use strict";

  // Opening a branch of the tree: htmx loads its children once; later clicks fold and unfold.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".tree .toggle");
    if (!toggle) return;
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    var children = toggle.parentElement.querySelector(".children");
    if (children) children.hidden = !open;
  });

  // A unit's name in the tree filters the table and the map to its subtree (a plain or middle
  // click elsewhere still opens the unit's page).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-filter-parent]");
    var form = document.getElementById("filters");
    if (!link || !form || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    var id = link.getAttribute("data-filter-parent");
    form.elements.orgUnitParentId.value = id;
    var banner = form.querySelector(".parent-filter");
    banner.hidden = !id;
    document.getElementById("parent-name").textContent = link.getAttribute("data-name") || "";
    document.querySelectorAll(".tree a.selected").forEach(function (a) { a.classList.remove("selected"); });
    if (id) link.classList.add("selected");
    htmx.trigger(form, "change");
  });
})();
