// The calsync API (/api/v1) as the task pane uses it. Every call carries the access token from the Office adapter;
// a 401 gets one fresh token and one retry. Errors become ApiError with the server's message for people.
import { getAccessToken } from "./office-adapter.js";

const BASE = new URL("../api/v1/", window.location.href);

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

let token = null;

/** Forget the cached token (after sign-out). */
export function forgetToken() {
  token = null;
}

async function call(method, path, body, retried = false) {
  token = token || (await getAccessToken());
  let response;
  try {
    response = await fetch(new URL(path, BASE), {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("calsync cannot be reached. Check your connection and try again.", 0, "network");
  }
  if (response.status === 401 && !retried) {
    token = null;
    return call(method, path, body, true);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError(
      (error && error.message) || `calsync answered ${response.status}. Try again in a moment.`,
      response.status,
      (error && error.code) || "http_error",
    );
  }
  return data;
}

const itemPath = (id) => `items/${encodeURIComponent(id)}`;

export const api = {
  categories: () => call("GET", "categories"),
  item: (id) => call("GET", itemPath(id)),
  share: (id, whoIds, whatId) => call("PUT", `${itemPath(id)}/share`, { whoIds, whatId }),
  unshare: (id) => call("DELETE", `${itemPath(id)}/share`),
  lookup: (q, types) => call("GET", `salesforce/lookup?${new URLSearchParams({ q, types: types.join(",") })}`),
  syncNow: () => call("POST", "sync"),
  job: (id) => call("GET", `jobs/${encodeURIComponent(id)}`),
};
