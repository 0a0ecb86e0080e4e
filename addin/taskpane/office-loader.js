// Loads Office.js before the task pane's module runs. Inside Outlook it must come from Microsoft's CDN (the
// only supported source for Outlook add-ins). Tests define a stub `Office` before the page loads, and the
// local preview (URL fragment "#preview...") runs outside Outlook: neither fetches anything from the Internet.
(function () {
  "use strict";
  if (window.Office || window.location.hash.indexOf("preview") === 1) {
    return;
  }
  document.write('<script src="https://appsforoffice.microsoft.com/lib/1/hosted/office.js"><\/script>');
})();
