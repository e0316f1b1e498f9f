// The phone side (or Home Assistant's): an MQTT.js client that records every message it sees.
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { until } from "./board.ts";

export interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
}

/** An MQTT.js client (the phone, or Home Assistant) that records every message it receives; options for credentials or a CA. */
export class Phone {
  readonly seen: Seen[] = [];
  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => this.seen.push({ topic, payload: payload.toString("utf8"), retain: packet.retain }));
  }

  static async connect(url: string, subscribe: string[], options: IClientOptions = {}): Promise<Phone> {
    const client = await mqtt.connectAsync(url, {
      clientId: `watch${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    });
    const watcher = new Phone(client);
    if (subscribe.length) await client.subscribeAsync(subscribe);
    return watcher;
  }

  async publish(topic: string, payload: string | Buffer, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { retain });
  }

  /** The first message on `topic` (with `payload`, if given) seen at index `from` or later. */
  async waitFor(topic: string, payload?: string, from = 0, ms = 10_000): Promise<Seen> {
    return until(
      `${topic}${payload === undefined ? "" : "=" + payload}`,
      () => this.seen.slice(from).find((m) => m.topic === topic && (payload === undefined || m.payload === payload)),
      ms,
      () => `; seen: ${JSON.stringify(this.seen)}`,
    );
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** What a fresh subscriber reads retained on `topic`, or undefined when nothing comes within `ms`. */
export async function readRetained(url: string, topic: string, ms = 3000): Promise<string | undefined> {
  const phone = await Phone.connect(url, [topic]);
  try {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = phone.seen.find((m) => m.topic === topic && m.retain);
      if (found) return found.payload;
      if (Date.now() > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await phone.end();
  }
}

/**
 * What fresh subscribers read retained on `topic`, asked again until it is `expected` or `ms` have passed: a broker
 * may store a retained message a moment after it forwards it (aedes does), so one look could see the one before.
 */
export async function settledRetained(url: string, topic: string, expected: string, ms = 5000): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = await readRetained(url, topic, 1000);
    if (seen === expected || Date.now() > deadline) return seen;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
