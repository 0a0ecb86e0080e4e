// msal-browser for the task pane: an access token for the calsync API scope, never the ID token.
//
// The vendored UMD build (vendor/msal-browser.min.js, global `msal`) is loaded by taskpane.html. Its settings come
// from the backend (auth-config.json: client id, authority, API scope; known authorities for a non-Microsoft
// identity provider such as the local sandbox). `createNestablePublicClientApplication` talks to Outlook's
// nested-app-auth bridge when the pane runs inside an Outlook that offers it, and behaves as the standard
// PublicClientApplication (popup on our own redirect page, auth-redirect.html) everywhere else.
// The Office adapter decides when to use it; this module never touches Office.js.

const REDIRECT_PAGE = "auth-redirect.html";
// Silent failures that only an interactive sign-in can fix (besides InteractionRequiredAuthError itself).
const NEEDS_INTERACTION = new Set(["no_account_error", "no_tokens_found", "native_account_unavailable"]);
const CANCELLED = new Set(["user_cancelled", "popup_window_error", "empty_window_error"]);

/** Thrown when a token needs the user's sign-in and the caller asked for no popup. */
export class InteractionNeeded extends Error {
  constructor() {
    super("Sign-in needed");
    this.name = "InteractionNeeded";
  }
}

let configPromise = null;
let clientPromise = null;

/** The backend's MSAL settings, or null when it has none (then only Office SSO can sign in). */
export function loadConfig() {
  if (!window.msal) {
    return Promise.resolve(null);
  }
  configPromise = configPromise || fetch(new URL("auth-config.json", window.location.href), { headers: { Accept: "application/json" } })
    .then((response) => (response.ok ? response.json() : null))
    .catch(() => null);
  return configPromise;
}

function client(config) {
  const page = new URL(REDIRECT_PAGE, window.location.href).href;
  clientPromise = clientPromise || window.msal.createNestablePublicClientApplication({
    auth: {
      clientId: config.clientId,
      authority: config.authority,
      knownAuthorities: config.knownAuthorities || [],
      redirectUri: page,
      postLogoutRedirectUri: page,
    },
    // Microsoft's NAA guidance: localStorage, so a pane reopened in the same Outlook session signs in silently.
    cache: { cacheLocation: "localStorage" },
  });
  clientPromise.catch(() => {
    clientPromise = null; // a failed start (identity provider unreachable) is retried next time
  });
  return clientPromise;
}

function signedInAccount(pca) {
  return pca.getActiveAccount() || pca.getAllAccounts()[0] || null;
}

function needsInteraction(error) {
  return error instanceof window.msal.InteractionRequiredAuthError || NEEDS_INTERACTION.has(error && error.errorCode);
}

/** True when the failure is the user closing or refusing the sign-in window. */
export function wasCancelled(error) {
  return CANCELLED.has(error && error.errorCode);
}

/** An access token for `config.scope`: silently from MSAL's cache or refresh token first; a popup when that needs
 * the user (`popup: false` throws InteractionNeeded instead, so that the popup opens on a click). */
export async function accessToken(config, { popup = true } = {}) {
  const pca = await client(config);
  const request = { scopes: [config.scope] };
  const account = signedInAccount(pca);
  try {
    // Inside Outlook the account is optional: the host knows who is signed in.
    const result = await pca.acquireTokenSilent(account ? { ...request, account } : request);
    pca.setActiveAccount(result.account);
    return result.accessToken;
  } catch (error) {
    if (!needsInteraction(error)) {
      throw error;
    }
  }
  if (!popup) {
    throw new InteractionNeeded();
  }
  const result = await pca.acquireTokenPopup(request);
  pca.setActiveAccount(result.account);
  return result.accessToken;
}

/** Whether someone is signed in through MSAL in this pane. */
export async function isSignedIn() {
  if (!clientPromise) {
    return false;
  }
  try {
    return Boolean(signedInAccount(await clientPromise));
  } catch {
    return false;
  }
}

/** Sign out: the identity provider's session ends in a popup and MSAL's cache is cleared. Inside Outlook (nested
 * app authentication) the host owns the session: returns false, the rep signs out of Outlook instead. */
export async function signOut() {
  const pca = await clientPromise;
  const account = pca && signedInAccount(pca);
  if (!account) {
    return true;
  }
  try {
    await pca.logoutPopup({ account });
    return true;
  } catch (error) {
    if (error && error.errorCode === "unsupported_method") {
      return false;
    }
    throw error;
  }
}
