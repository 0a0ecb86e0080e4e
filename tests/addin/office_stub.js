// A stand-in for Office.js in an Outlook appointment, installed before the task pane loads (Playwright
// add_init_script). The test sets window.__calsyncStub = {itemId, subject, token, tokenError, nestedAppAuth} first.
// Every call the task pane makes is recorded in window.__officeCalls.
(() => {
  const stub = window.__calsyncStub;
  const calls = (window.__officeCalls = []);
  const ok = (value) => ({ status: "succeeded", value });
  const master = (stub.masterCategories || []).map((name) => ({ displayName: name, color: "Preset0" }));
  const itemCategories = [];
  const later = (callback, result) => setTimeout(() => callback(result), 0);
  window.Office = {
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    EventType: { ItemChanged: "olkItemSelectedChanged" },
    MailboxEnums: { CategoryColor: { Preset7: "Preset7", Preset4: "Preset4" } },
    onReady: () => Promise.resolve({ host: "Outlook", platform: "OfficeOnline" }),
    auth: {
      getAccessToken: (options) => {
        calls.push(["getAccessToken", options]);
        return stub.tokenError ? Promise.reject(stub.tokenError) : Promise.resolve(stub.token);
      },
    },
    context: {
      // NestedAppAuth 1.1 only when the test asks (stub.nestedAppAuth); this stub has no nested-app-auth bridge, so
      // msal-browser's nestable client behaves as the standard one, as in a browser outside Outlook.
      requirements: {
        isSetSupported: (name, version) => (name === "Mailbox" && Number(version) <= 1.8) ||
          (Boolean(stub.nestedAppAuth) && name === "NestedAppAuth" && Number(version) <= 1.1),
      },
      mailbox: {
        addHandlerAsync: (type) => calls.push(["addHandlerAsync", type]),
        masterCategories: {
          getAsync: (callback) => { calls.push(["masterCategories.getAsync"]); later(callback, ok(master.slice())); },
          addAsync: (categories, callback) => {
            calls.push(["masterCategories.addAsync", categories]);
            master.push(...categories);
            later(callback, ok());
          },
        },
        item: {
          itemId: stub.itemId,
          itemType: "appointment",
          subject: stub.subject,
          categories: {
            getAsync: (callback) => later(callback, ok(itemCategories.map((n) => ({ displayName: n })))),
            addAsync: (names, callback) => {
              calls.push(["item.categories.addAsync", names]);
              itemCategories.push(...names);
              later(callback, ok());
            },
            removeAsync: (names, callback) => {
              calls.push(["item.categories.removeAsync", names]);
              later(callback, ok());
            },
          },
        },
      },
    },
  };
})();
