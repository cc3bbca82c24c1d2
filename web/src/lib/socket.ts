// The Socket.IO connection. Reconnects by itself after network failures; a refused handshake
// (expired or revoked token) is not retried by socket.io-client, so it is handled here:
// rotate the tokens, then connect again, or sign out when the session is gone.

import { io, type Socket } from "socket.io-client";
import { refreshTokens } from "./api";
import { getSession } from "./session";

const ACK_TIMEOUT_MS = 10_000;
const RETRY_MS = 3_000;

export class SocketConnection {
  readonly socket: Socket;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(private readonly onSignedOut: () => void) {
    this.socket = io({
      path: "/socket.io/",
      autoConnect: false,
      // A function, so every reconnect presents the latest access token.
      auth: (cb) => cb({ token: getSession()?.access_token ?? "" }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 5_000,
    });
    this.socket.on("connect_error", (err) => {
      if (this.socket.active) return; // a network failure: socket.io-client retries
      if (err.message.startsWith("unauthorized")) void this.reauthenticate();
      else this.retryLater(() => this.socket.connect());
    });
    this.socket.on("disconnect", (reason) => {
      // The server ends sockets of a revoked session; a refresh tells whether it still exists.
      if (reason === "io server disconnect") void this.reauthenticate();
    });
  }

  connect(): void {
    this.closed = false;
    this.socket.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Emits and waits for the ack; rejects on timeout. */
  request<T>(event: string, payload: unknown, timeoutMs = ACK_TIMEOUT_MS): Promise<T> {
    return this.socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<T>;
  }

  /** Emits without waiting; the server's ack is ignored. */
  notify(event: string, payload: unknown): void {
    if (this.socket.connected) this.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, () => {});
  }

  private async reauthenticate(): Promise<void> {
    if (this.closed) return;
    try {
      if (await refreshTokens()) this.socket.connect();
      else this.onSignedOut();
    } catch {
      this.retryLater(() => void this.reauthenticate()); // unreachable or busy: try again soon
    }
  }

  private retryLater(action: () => void): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.closed && !this.socket.connected) action();
    }, RETRY_MS);
  }
}
