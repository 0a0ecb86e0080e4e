// The task pane: the current item's Salesforce state, Who/What pickers, Share / Unshare, Sync now.
import { api, ApiError, forgetToken } from "./api.js";
import * as outlook from "./office-adapter.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const SEARCH_DELAY_MS = 250;

const STATE_LABELS = {
  not_shared: ["Not shared", "badge-neutral"],
  pending: ["Waiting for sync", "badge-warning"],
  synced: ["Shared", "badge-success"],
  failed: ["Problem", "badge-danger"],
};

const ui = {
  item: null, // {id, subject, canEditCategories}
  view: null, // GET /items answer
  categories: [],
  who: [], // selected records
  what: null,
  busy: false,
};

// -- messages -------------------------------------------------------------------------------------------------
function say(text, kind = "info", action = null) {
  const box = $("messages");
  box.replaceChildren();
  if (!text) {
    return;
  }
  const bar = document.createElement("div");
  bar.className = `message message-${kind}`;
  bar.setAttribute("role", kind === "error" ? "alert" : "status");
  const span = document.createElement("span");
  span.textContent = text;
  bar.append(span);
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-link";
    button.textContent = action.label;
    button.addEventListener("click", action.run);
    bar.append(button);
  }
  box.append(bar);
}

function explain(error) {
  if (error instanceof outlook.SignInError) {
    $("sync").hidden = true; // nothing works until sign-in does
    $("item-section").hidden = true;
    if (error.code === "interaction_required") {
      say(error.message, "info", { label: "Sign in", run: signIn });
    } else {
      say(error.message, "error", { label: "Try again", run: start });
    }
  } else if (error instanceof ApiError) {
    say(error.message, error.status >= 500 || error.status === 0 ? "warning" : "error");
  } else {
    say(error && error.message ? error.message : "Something went wrong. Try again.", "error");
  }
}

function setBusy(busy) {
  ui.busy = busy;
  $("app").setAttribute("aria-busy", String(busy));
  for (const id of ["share", "unshare", "sync"]) {
    $(id).disabled = busy || (id !== "sync" && Boolean(ui.view && ui.view.read_only));
  }
}

// -- rendering ------------------------------------------------------------------------------------------------
function chip(record, onRemove) {
  const el = document.createElement("span");
  el.className = "chip";
  el.dataset.id = record.id;
  const label = document.createElement("span");
  label.textContent = record.name || record.id;
  label.title = [record.type, record.detail].filter(Boolean).join(" · ");
  el.append(label);
  if (onRemove) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.setAttribute("aria-label", `Remove ${record.name || record.id}`);
    remove.textContent = "×";
    remove.addEventListener("click", onRemove);
    el.append(remove);
  }
  return el;
}

function renderChips() {
  const editable = !(ui.view && ui.view.read_only);
  $("who-chips").replaceChildren(
    ...ui.who.map((r) => chip(r, editable ? () => { ui.who = ui.who.filter((w) => w.id !== r.id); renderChips(); } : null)),
  );
  $("what-chips").replaceChildren(
    ...(ui.what ? [chip(ui.what, editable ? () => { ui.what = null; renderChips(); } : null)] : []),
  );
}

function render() {
  const view = ui.view;
  $("item-section").hidden = false;
  $("subject").textContent = view.subject || ui.item.subject || "(no subject)";
  const [label, tone] = STATE_LABELS[view.state] || [view.state, "badge-neutral"];
  const badge = $("state-badge");
  badge.textContent = label;
  badge.className = `badge ${tone}`;
  badge.hidden = false;
  $("readonly-badge").hidden = !view.read_only;
  $("readonly-badge").title = view.read_only_reason || "";
  $("readonly-reason").hidden = !view.read_only;
  $("readonly-reason").textContent = view.read_only_reason || "";
  $("pickers").hidden = view.read_only;
  for (const id of ["who-input", "what-input"]) {
    $(id).disabled = view.read_only;
  }

  const link = view.salesforce && view.salesforce.url;
  $("record").hidden = !link;
  if (link) {
    $("record-link").href = link;
    $("record-link").textContent = `Open the Salesforce ${view.salesforce.object.toLowerCase()}`;
  }
  $("share").textContent = view.shared ? "Update links" : "Share with Salesforce";
  $("share").hidden = view.read_only;
  $("unshare").hidden = view.read_only || !view.shared;

  ui.who = view.who.slice();
  ui.what = view.what;
  renderChips();

  const health = view.health || [];
  $("health").hidden = health.length === 0;
  $("health-list").replaceChildren(
    ...health.map((h) => {
      const li = document.createElement("li");
      li.textContent = h.message;
      li.dataset.code = h.code;
      return li;
    }),
  );
  renderLastSync(view.last_sync, view.push);
  if (view.notice) {
    say(view.notice, "warning");
  }
  setBusy(false);
}

/** "Last sync: <when>", saying when a change (a push notification) made it and whether changes of this mailbox
 * are notified (they then sync within about a minute) or a noticed change is about to sync. */
function renderLastSync(last, push) {
  let text = "Not synced yet.";
  if (last) {
    const when = new Date(last.finished_at || last.started_at).toLocaleString();
    const words = { ok: "Last sync", partial: "Last sync (some items need attention)", failed: "Last sync failed",
      running: "Syncing since", abandoned: "Last sync was interrupted" };
    const cause = last.trigger === "push" && last.status !== "running" ? " (after a change)" : "";
    text = `${words[last.status] || "Last sync"}${cause}: ${when}`;
  }
  if (push && push.pending) {
    text += " · A change was noticed: syncing in a moment.";
  } else if (push && push.state === "up") {
    text += " · Changes sync within a minute.";
  }
  $("last-sync").textContent = text;
}

// -- pickers (combobox + listbox, keyboard: ↑ ↓ Enter Esc) ----------------------------------------------------
function picker(inputId, listId, types, choose) {
  const input = $(inputId);
  const list = $(listId);
  let results = [];
  let active = -1;
  let timer = null;
  let sequence = 0;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    if (index >= 0 && list.children[index]) {
      input.setAttribute("aria-activedescendant", list.children[index].id);
      list.children[index].scrollIntoView({ block: "nearest" });
    }
  }

  function show(found) {
    results = found;
    list.replaceChildren(
      ...(found.length
        ? found.map((record, i) => {
          const li = document.createElement("li");
          li.id = `${listId}-${i}`;
          li.setAttribute("role", "option");
          li.className = "option";
          const name = document.createElement("span");
          name.className = "option-name";
          name.textContent = record.name;
          const meta = document.createElement("span");
          meta.className = "option-meta";
          meta.textContent = [record.type, record.detail].filter(Boolean).join(" · ");
          li.append(name, meta);
          li.addEventListener("mousedown", (event) => {
            event.preventDefault();
            pick(i);
          });
          return li;
        })
        : [Object.assign(document.createElement("li"), { className: "option-empty", textContent: "No matches" })]),
    );
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(found.length ? 0 : -1);
  }

  function pick(index) {
    const record = results[index];
    if (record) {
      choose(record);
      input.value = "";
      close();
      renderChips();
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (text.length < 2) {
      close();
      return;
    }
    timer = setTimeout(async () => {
      const mine = ++sequence;
      try {
        const answer = await api.lookup(text, types);
        if (mine === sequence) {
          show(answer.results);
        }
      } catch (error) {
        close();
        explain(error);
      }
    }, SEARCH_DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) {
      return;
    }
    if (event.key === "ArrowDown") {
      event.preventDefault();
      highlight(Math.min(results.length - 1, active + 1));
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      highlight(Math.max(0, active - 1));
    } else if (event.key === "Enter") {
      event.preventDefault();
      pick(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

// -- actions --------------------------------------------------------------------------------------------------
async function refresh() {
  ui.view = await api.item(ui.item.id);
  render();
}

async function share() {
  setBusy(true);
  say("Sharing…");
  try {
    const category = (ui.view && ui.view.category) || "Salesforce";
    const answer = await api.share(ui.item.id, ui.who.map((r) => r.id), ui.what ? ui.what.id : null);
    if (ui.item.canEditCategories) {
      try {
        await outlook.addCategory(category); // Outlook shows it at once; the server already set it
      } catch {
        // The category is on the item server-side; Outlook shows it after its next refresh.
      }
    }
    ui.view = answer.item;
    render();
    say("Shared. It goes to Salesforce with the next sync, which has started.", "success");
    await follow(answer.job);
  } catch (error) {
    setBusy(false);
    explain(error);
  }
}

async function unshare() {
  setBusy(true);
  say("Unsharing…");
  try {
    const category = (ui.view && ui.view.category) || "Salesforce";
    const answer = await api.unshare(ui.item.id);
    if (ui.item.canEditCategories) {
      try {
        await outlook.removeCategory(category);
      } catch {
        // Removed server-side already.
      }
    }
    ui.view = answer.item;
    render();
    say(answer.message, "success");
    if (answer.job) {
      await follow(answer.job);
    }
  } catch (error) {
    setBusy(false);
    explain(error);
  }
}

async function syncNow() {
  setBusy(true);
  try {
    const job = await api.syncNow();
    say(job.status === "duplicate" ? "A sync is already running; showing its progress." : "Sync started.");
    await follow(job);
  } catch (error) {
    setBusy(false);
    explain(error);
  }
}

const PHASES = { reading: "Reading changes", planning: "Comparing", applying: "Writing changes", done: "Finishing" };

function showProgress(progress, status) {
  const bar = $("progress");
  bar.hidden = false;
  const text = $("progress-text");
  text.hidden = false;
  if (!progress) {
    text.textContent = status === "started" ? "Syncing…" : "Waiting for a sync worker…";
  } else if (progress.phase === "applying" && progress.total) {
    text.textContent = `${PHASES.applying}: ${progress.done} of ${progress.total}`;
  } else {
    text.textContent = `${PHASES[progress.phase] || "Syncing"}…`;
  }
  const percent = progress && progress.total ? Math.round((100 * progress.done) / progress.total) : null;
  if (percent === null) {
    bar.removeAttribute("aria-valuenow");
    bar.classList.add("indeterminate");
    bar.setAttribute("aria-valuetext", progress ? `Sync: ${progress.phase}` : "Waiting for a worker");
  } else {
    bar.classList.remove("indeterminate");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-valuetext", `${percent}% (${progress.done} of ${progress.total} changes)`);
    bar.firstElementChild.style.width = `${percent}%`;
  }
}

/** Poll the job until it is done, showing its progress; then show the outcome and reload the item. */
async function follow(job) {
  setBusy(true);
  showProgress(null);
  let status;
  for (;;) {
    status = await api.job(job.id);
    if (!status.running) {
      break;
    }
    showProgress(status.progress, status.status);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  $("progress").hidden = true;
  $("progress-text").hidden = true;
  if (status.error) {
    say(`Sync failed: ${status.error}`, "error");
  } else if (status.last_session && status.last_session.status === "partial") {
    say("Sync finished, but some items need attention.", "warning");
  } else {
    say("Sync finished.", "success");
  }
  if (ui.item) {
    await refresh();
  }
  renderLastSync(status.last_session, status.push);
  setBusy(false);
}

// -- sign-in --------------------------------------------------------------------------------------------------
/** The "Sign in" button: the sign-in popup opens on this click, then the pane loads. */
async function signIn() {
  say("Signing in…");
  try {
    await outlook.getAccessToken({ popup: true });
  } catch (error) {
    setBusy(false);
    explain(error);
    return;
  }
  await start();
}

async function signOut() {
  setBusy(true);
  try {
    const done = await outlook.signOut();
    if (!done) {
      say("You are signed in to calsync with your Outlook account: sign out of Outlook to switch accounts.", "info");
      setBusy(false);
      return;
    }
  } catch (error) {
    setBusy(false);
    explain(error);
    return;
  }
  forgetToken();
  ui.view = null;
  $("sign-out").hidden = true;
  $("item-section").hidden = true;
  $("state-badge").hidden = true;
  $("sync").hidden = true;
  setBusy(false);
  say("You are signed out of calsync.", "info", { label: "Sign in", run: signIn });
}

// -- start ----------------------------------------------------------------------------------------------------
async function start() {
  say("Loading…");
  setBusy(true);
  try {
    await outlook.ready();
    await outlook.getAccessToken({ popup: false });
    $("sign-out").hidden = !(await outlook.canSignOut());
    $("sync").hidden = false;
    ui.item = await outlook.currentItem();
    const answer = await api.categories();
    ui.categories = answer.categories;
    try {
      await outlook.ensureMasterCategories(ui.categories);
    } catch {
      // Not fatal: sync puts missing master categories back too.
    }
    say("");
    await refresh();
  } catch (error) {
    setBusy(false);
    explain(error);
  }
}

function wire() {
  picker("who-input", "who-list", ["Contact", "Lead"], (record) => {
    if (!ui.who.some((w) => w.id === record.id)) {
      ui.who.push(record);
    }
  });
  picker("what-input", "what-list", ["Account", "Opportunity"], (record) => {
    ui.what = record;
  });
  $("share").addEventListener("click", share);
  $("unshare").addEventListener("click", unshare);
  $("sync").addEventListener("click", syncNow);
  $("sign-out").addEventListener("click", signOut);
  outlook.onItemChanged(() => start());
}

wire();
start();
