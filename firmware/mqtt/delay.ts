// The session's timing: a module of its own, with no code, so that the tiny firmware takes it without the client
// (and without packet.ts, whose `chr` the build would keep).
/**
 * The session's timing, in milliseconds (but `ConnackSeconds`), for this client and the firmwares; a const enum, so
 * the build writes the numbers where they are used (a constant would cost RAM).
 */
export const enum Delay {
  /**
   * How long to wait for CONNACK: in seconds for the tiny firmware (its clock ticks once a second; there it covers
   * the TCP connect too), in milliseconds once the socket is open for this client.
   */
  ConnackSeconds = 10,
  ConnackTimeout = ConnackSeconds * 1000,
  /** A connection that stayed up this long was a good one: the backoff starts again from the bottom. */
  StableSeconds = 10,
  StableConnection = StableSeconds * 1000,
  /** The first reconnect delay when `reconnectMin` is not given (the full firmware's); it doubles up to the cap. */
  ReconnectMin = 1000,
}
