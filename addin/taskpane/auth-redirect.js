// Hands the sign-in answer in this page's URL to the task pane that opened the popup (BroadcastChannel).
window.msalRedirectBridge.broadcastResponseToMainFrame().catch((error) => {
  document.body.textContent = `Sign-in could not finish: ${error && error.message ? error.message : error}. Close this window and try again.`;
});
