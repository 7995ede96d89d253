// The Copy button under a value shown once (an authorization code, a new key): added only
// where the Clipboard API works, so that without JavaScript, or on a page served over plain
// http (not a secure context), the value is simply shown, read-only and selectable.
(function () {
  "use strict";
  if (!window.isSecureContext || !navigator.clipboard || !navigator.clipboard.writeText) {
    return;
  }
  document.querySelectorAll("[data-copy]").forEach(function (field) {
    var button = document.createElement("button");
    var label = field.getAttribute("data-copy");
    var status = document.createElement("span");
    var reset = 0;
    button.type = "button";
    button.className = "copy";
    button.textContent = label;
    status.className = "copy-status";
    status.setAttribute("role", "status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(
        function () {
          button.textContent = "Copied";
          status.textContent = "Copied to the clipboard.";
          clearTimeout(reset);
          reset = setTimeout(function () {
            button.textContent = label;
          }, 2000);
        },
        function () {
          // The browser refused (a permission, a policy): the value is still there to copy.
          field.select();
          status.textContent = "Could not copy. The text is selected: copy it yourself.";
        }
      );
    });
    field.parentNode.appendChild(button);
    field.parentNode.appendChild(status);
  });
})();
