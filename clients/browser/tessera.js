// Tessera's browser client: a dependency-free ES module, no build step.
//
// For a Tessera deployed with REFRESH_TOKEN_DELIVERY=cookie: the refresh token lives in an
// HttpOnly cookie that no script can read, and the access token lives in this object's
// memory only (never in localStorage or sessionStorage, where any XSS could read it).
//
// - `fetch(url, init)` attaches `Authorization: Bearer <access token>`. A token about to
//   expire is refreshed first; a 401 is refreshed once and the request sent once more.
// - Refreshes are single-flight: any number of concurrent calls in one tab wait for one
//   `POST /auth/refresh`. Across tabs, the Web Locks API lets one tab refresh at a time, and a
//   BroadcastChannel hands the new access token to the others, so two tabs never both rotate
//   (which, after the grace window, Tessera would treat as a stolen token).
// - `invalid_grant` on refresh (revoked, expired, reused) signs every tab out.
//
// The same behaviour as the Rust client in shared/client.

const CHANNEL = "tessera";
const LOCK = "tessera-refresh";

/** Refused by Tessera: the session is over, the user must log in again. */
export class SignedOut extends Error {
  constructor() {
    super("signed out");
    this.name = "SignedOut";
  }
}

/** An answer Tessera gave that is not a success (`status`, OAuth `error` code). */
export class TesseraError extends Error {
  constructor(status, body) {
    super(`${status} ${body?.error ?? ""} ${body?.error_description ?? ""}`.trim());
    this.name = "TesseraError";
    this.status = status;
    this.code = body?.error;
  }
}

export class Tessera {
  #base;
  #margin;
  #background;
  #access = null;
  #expiresAt = 0; // ms since the epoch
  #inflight = null;
  #timer = null;
  #channel;
  #listeners = new Set();

  /**
   * @param {object} options
   * @param {string} options.baseUrl Tessera's base URL (`{baseUrl}/auth/login`, ...).
   * @param {number} [options.refreshMargin=30] seconds before expiry to refresh (capped to
   *   half the token's lifetime).
   * @param {boolean} [options.background=true] refresh on a timer before expiry, not only
   *   when a call needs it.
   */
  constructor({ baseUrl, refreshMargin = 30, background = true }) {
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#margin = refreshMargin * 1000;
    this.#background = background;
    this.#channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
    this.#channel?.addEventListener("message", (event) => this.#onMessage(event.data));
  }

  /** Whether this tab holds an access token. */
  get signedIn() {
    return this.#access !== null;
  }

  /** When the access token this tab holds expires (ms since the epoch; 0 when signed out). */
  get expiresAt() {
    return this.#expiresAt;
  }

  /** Calls `listener(signedIn)` whenever that changes, in this tab or from another. */
  onChange(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Logs in; the refresh token arrives as the cookie, the access token stays here. */
  async login(username, password) {
    const response = await this.#post("/auth/login", { username, password });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new TesseraError(response.status, body);
    this.#adopt(body.access_token, body.expires_in);
    this.#broadcast();
    return body;
  }

  /**
   * Signs this tab in from the cookie alone (a reload, a new tab): one refresh, unless
   * another tab hands over a fresh token first. Resolves to whether a session exists.
   */
  async resume() {
    try {
      await this.#refresh();
      return true;
    } catch (error) {
      if (error instanceof SignedOut) return false;
      throw error;
    }
  }

  /** `fetch` with the access token, kept fresh. Throws `SignedOut` when the session is over. */
  async fetch(url, init = {}) {
    if (!this.signedIn) throw new SignedOut();
    if (Date.now() >= this.#expiresAt - this.#marginFor()) await this.#refresh();
    const first = await fetch(url, this.#withToken(init));
    if (first.status !== 401) return first;
    await this.#refresh();
    return fetch(url, this.#withToken(init));
  }

  /** Logs out: the session ends, the cookie is cleared, every tab signs out. */
  async logout() {
    try {
      const response = await this.#post("/auth/logout", {});
      if (!response.ok && response.status !== 400) {
        throw new TesseraError(response.status, await response.json().catch(() => null));
      }
    } finally {
      this.#signOut(true);
    }
  }

  // One refresh for every caller in this tab; one tab at a time across tabs.
  #refresh() {
    this.#inflight ??= this.#refreshAcrossTabs().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #refreshAcrossTabs() {
    const held = this.#expiresAt;
    const fresh = () => this.#expiresAt > held && Date.now() < this.#expiresAt - this.#marginFor();
    if (!navigator.locks) return this.#refreshNow();
    // Nobody else refreshing: refresh under the lock, unless a token came over meanwhile.
    const done = await navigator.locks.request(LOCK, { ifAvailable: true }, async (lock) => {
      if (lock === null) return false;
      if (!fresh()) await this.#refreshNow();
      return true;
    });
    if (done) return;
    // Another tab is refreshing. It posts its new token before it lets go of the lock, but
    // the message and the lock travel apart: wait for the token (a second at most), and
    // refresh only if none came (that tab's refresh failed).
    await navigator.locks.request(LOCK, async () => {
      await this.#tokenNewerThan(held, 1000);
      if (!fresh()) await this.#refreshNow();
    });
  }

  async #refreshNow() {
    const response = await this.#post("/auth/refresh", {});
    const body = await response.json().catch(() => null);
    if (response.status === 400 && body?.error === "invalid_grant") {
      this.#signOut(true);
      throw new SignedOut();
    }
    if (response.status === 400 && body?.error === "invalid_request") {
      // No cookie: nothing to resume.
      this.#signOut(false);
      throw new SignedOut();
    }
    if (!response.ok) throw new TesseraError(response.status, body);
    this.#adopt(body.access_token, body.expires_in);
    this.#broadcast();
  }

  // Resolves once this tab holds a token newer than `held`, or after `ms`.
  #tokenNewerThan(held, ms) {
    if (this.#expiresAt > held) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve();
      };
      const waiter = () => {
        if (this.#expiresAt > held) finish();
      };
      const timer = setTimeout(finish, ms);
      this.#waiters.add(waiter);
    });
  }

  #waiters = new Set();

  #post(path, body) {
    return fetch(`${this.#base}${path}`, {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  #withToken(init) {
    const headers = new Headers(init.headers ?? {});
    headers.set("Authorization", `Bearer ${this.#access}`);
    return { ...init, headers };
  }

  #marginFor() {
    return Math.min(this.#margin, (this.#lifetime ?? 0) / 2);
  }

  #lifetime = 0;

  #adopt(access, expiresInSecs) {
    const wasSignedIn = this.signedIn;
    this.#access = access;
    this.#lifetime = expiresInSecs * 1000;
    this.#expiresAt = Date.now() + this.#lifetime;
    this.#schedule();
    if (!wasSignedIn) this.#emit();
  }

  #schedule() {
    clearTimeout(this.#timer);
    if (!this.#background || !this.signedIn) return;
    const due = Math.max(0, this.#expiresAt - this.#marginFor() - Date.now());
    this.#timer = setTimeout(() => this.#refresh().catch(() => {}), due);
  }

  #broadcast() {
    this.#channel?.postMessage({
      type: "token",
      access: this.#access,
      expiresAt: this.#expiresAt,
      lifetime: this.#lifetime,
    });
  }

  #onMessage(message) {
    if (message?.type === "token" && message.expiresAt > this.#expiresAt) {
      const wasSignedIn = this.signedIn;
      this.#access = message.access;
      this.#expiresAt = message.expiresAt;
      this.#lifetime = message.lifetime;
      this.#schedule();
      for (const waiter of [...this.#waiters]) waiter();
      if (!wasSignedIn) this.#emit();
    } else if (message?.type === "signout") {
      this.#signOut(false);
    }
  }

  #signOut(tellOthers) {
    const wasSignedIn = this.signedIn;
    clearTimeout(this.#timer);
    this.#access = null;
    this.#expiresAt = 0;
    if (tellOthers) this.#channel?.postMessage({ type: "signout" });
    if (wasSignedIn) this.#emit();
  }

  #emit() {
    for (const listener of this.#listeners) listener(this.signedIn);
  }
}
