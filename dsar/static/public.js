// Progressive enhancement of the request form: hide the parts that do not apply.
// The form works the same without this script; the server ignores what does not apply.
(function () {
  "use strict";
  var form = document.querySelector("form.request-form");
  if (!form) { return; }

  function checked(name) {
    var input = form.querySelector("input[name='" + name + "']:checked");
    return input ? input.value : null;
  }

  function show(selector, visible) {
    Array.prototype.forEach.call(form.querySelectorAll(selector), function (el) {
      el.hidden = !visible;
    });
  }

  function update() {
    show(".representative-only", checked("acting_for") === "other");
    var kind = checked("subject_kind");
    var medical = kind === "patient" && (checked("type") === "access" || checked("type") === null);
    show(".patient-only", medical);
    if (!medical) {
      // These boxes mean nothing for anyone else: a hidden ticked box would only bring an error back.
      Array.prototype.forEach.call(form.querySelectorAll(".patient-only input[type=checkbox]"), function (box) {
        box.checked = false;
      });
    }
  }

  form.addEventListener("change", update);
  update();
}());
