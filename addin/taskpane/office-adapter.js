// The one module that talks to Office.js. Everything Outlook-specific (the current item, categories, sign-in)
// goes through here, so tests replace the `Office` global and the local preview runs without Outlook.
//
// Sign-in: the backend needs an *access token for our API* (scope access_as_user), never the ID token.
// - Nested app authentication (Microsoft's recommendation for Outlook add-ins): when Outlook supports
//   NestedAppAuth 1.1 and the backend publishes MSAL settings (auth-config.json), msal-browser's nestable client
//   (msal-client.js) gets the token silently, or in a popup after the rep presses "Sign in".
// - Office SSO: Office.auth.getAccessToken() for the API named in the manifest's WebApplicationInfo, when the host
//   has no NestedAppAuth 1.1, or when nested app authentication fails for another reason than the rep's choice.
// Failures become SignInError with a message that says what to do (`code` "interaction_required": the pane offers
// a "Sign in" button, since browsers let a popup open only on a click).
import * as msalClient from "./msal-client.js";

const PREVIEW = window.location.hash.startsWith("#preview");
const previewParams = new URLSearchParams(PREVIEW ? window.location.hash.slice("#preview".length).replace(/^[&?]/, "") : "");

export class SignInError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "SignInError";
    this.code = code;
  }
}

const SSO_MESSAGES = {
  13001: "You are not signed in to Outlook. Sign in with your work account, then open this pane again.",
  13002: "Sign-in was cancelled. Press “Try again” to sign in and allow calsync to work for you.",
  13003: "This kind of account cannot use calsync. Sign in to Outlook with your work or school account.",
  13006: "Outlook could not sign you in just now. Close this pane and open it again.",
  13007: "Outlook could not get permission for calsync. Ask your admin to grant the add-in consent.",
  13008: "Outlook is still busy signing you in. Wait a moment, then press “Try again”.",
  13012: "This version of Outlook cannot sign in to add-ins. Update Outlook or use Outlook on the web.",
};

function ssoError(error) {
  const code = error && error.code;
  const message = SSO_MESSAGES[code] ||
    `Signing in to calsync failed${code ? ` (code ${code})` : ""}. Press “Try again”; if it keeps failing, tell your admin.`;
  return new SignInError(message, code || "unknown");
}

function office() {
  return window.Office;
}

function mailbox() {
  return office().context.mailbox;
}

function asPromise(call) {
  return new Promise((resolve, reject) => {
    call((result) => {
      if (result.status === "succeeded" || result.status === office().AsyncResultStatus?.Succeeded) {
        resolve(result.value);
      } else {
        reject(result.error || new Error("Outlook could not do this."));
      }
    });
  });
}

/** Resolves when Office.js is ready: {inOutlook, preview}. */
export async function ready() {
  if (!office()) {
    if (PREVIEW) {
      return { inOutlook: false, preview: true };
    }
    throw new Error("Office.js did not load. Open calsync from Outlook (or use the local preview URL).");
  }
  const info = await office().onReady();
  return { inOutlook: Boolean(info && info.host), preview: PREVIEW };
}

/** The current item: {id, subject, canEditCategories}; throws with a message for people when there is none. */
export async function currentItem() {
  if (!office() || !office().context || !office().context.mailbox) {
    const id = previewParams.get("item");
    if (!id) {
      throw new Error("No item: add &item=<item id> to the preview URL.");
    }
    return { id, subject: previewParams.get("subject") || "", canEditCategories: false };
  }
  const item = mailbox().item;
  if (!item) {
    throw new Error("Select a meeting or appointment in your calendar.");
  }
  let id = item.itemId;
  const compose = !id;
  if (compose) {
    // Compose mode has no itemId until the item is saved (Mailbox 1.8: getItemIdAsync).
    try {
      id = await asPromise((done) => item.getItemIdAsync(done));
    } catch {
      throw new Error("Save the appointment first: it can be shared once it is in your calendar.");
    }
  }
  const subject = typeof item.subject === "string" ? item.subject : "";
  return { id, subject, canEditCategories: !compose && Boolean(item.categories) };
}

function naaSupported() {
  const requirements = office().context && office().context.requirements;
  return Boolean(requirements && requirements.isSetSupported && requirements.isSetSupported("NestedAppAuth", "1.1"));
}

function describe(error) {
  const code = error && (error.errorCode || error.code);
  return code ? String(code) : "unknown";
}

async function officeSsoToken(interactive) {
  return office().auth.getAccessToken({
    allowSignInPrompt: interactive,
    allowConsentPrompt: interactive,
    forMSGraphAccess: false,
  });
}

/** An access token for the calsync API. `popup: false` never opens a sign-in window (SignInError
 * "interaction_required" instead); `interactive: false` also keeps Office SSO from prompting. */
export async function getAccessToken({ interactive = true, popup = interactive } = {}) {
  if (!office() || !office().auth) {
    const token = previewParams.get("token");
    if (token) {
      return token;
    }
    throw new SignInError("No sign-in is available here: open calsync from Outlook.", "no_office");
  }
  let naaFailure = null;
  const config = naaSupported() ? await msalClient.loadConfig() : null;
  if (config) {
    try {
      return await msalClient.accessToken(config, { popup });
    } catch (error) {
      if (error instanceof msalClient.InteractionNeeded) {
        throw new SignInError("Sign in with your work account to use calsync.", "interaction_required");
      }
      if (msalClient.wasCancelled(error)) {
        throw new SignInError("Sign-in was cancelled or the sign-in window was blocked. Press “Sign in” to try again.",
          "interaction_required");
      }
      naaFailure = error; // e.g. the identity provider unreachable, or an admin setting: Office SSO may still work
    }
  }
  try {
    return await officeSsoToken(interactive);
  } catch (error) {
    if (naaFailure) {
      throw new SignInError(
        `calsync could not sign you in: neither Outlook's nested sign-in (${describe(naaFailure)}) nor Office single ` +
        `sign-on (${describe(error)}) worked. Press “Try again”; if it keeps failing, tell your admin (the add-in's ` +
        "app registration or consent may be missing).",
        "sign_in_failed",
      );
    }
    throw ssoError(error);
  }
}

/** Whether the pane can sign the rep out itself (signed in through MSAL outside Outlook's nested auth). */
export function canSignOut() {
  return msalClient.isSignedIn();
}

/** Sign out of calsync; false when Outlook owns the sign-in (the rep signs out of Outlook instead). */
export function signOut() {
  return msalClient.signOut();
}

/** Add the categories calsync uses to the mailbox's master list (Mailbox 1.8), with their colours. */
export async function ensureMasterCategories(categories) {
  if (!office() || !mailbox() || !mailbox().masterCategories) {
    return [];
  }
  const existing = await asPromise((done) => mailbox().masterCategories.getAsync(done));
  const names = new Set((existing || []).map((c) => c.displayName.toLowerCase()));
  const missing = categories
    .filter((c) => !names.has(c.name.toLowerCase()))
    .map((c) => ({ displayName: c.name, color: c.preset || "None" }));
  if (missing.length) {
    await asPromise((done) => mailbox().masterCategories.addAsync(missing, done));
  }
  return missing.map((c) => c.displayName);
}

/** Put a category on the current item (read mode; the backend also sets it through EWS). */
export async function addCategory(name) {
  const item = office() && mailbox() && mailbox().item;
  if (item && item.categories && item.itemId) {
    await asPromise((done) => item.categories.addAsync([name], done));
  }
}

export async function removeCategory(name) {
  const item = office() && mailbox() && mailbox().item;
  if (item && item.categories && item.itemId) {
    await asPromise((done) => item.categories.removeAsync([name], done));
  }
}

/** Call `handler` when the user selects another item while the pane is pinned. */
export function onItemChanged(handler) {
  if (office() && mailbox() && mailbox().addHandlerAsync && office().EventType) {
    mailbox().addHandlerAsync(office().EventType.ItemChanged, handler);
  }
}
