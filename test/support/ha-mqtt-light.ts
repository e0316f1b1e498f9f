// Home Assistant's documented configuration of an MQTT light, to check the device's discovery config against.
// Copied from the "MQTT Light" page, https://www.home-assistant.io/integrations/light.mqtt/ (its source:
// home-assistant/home-assistant.io, source/_integrations/light.mqtt.markdown, commit 01a585427fe8). Each key with the
// type the page gives; `required` where the page says so.

export type DocType = "string" | "integer" | "boolean" | "list" | "map" | "template" | "icon" | "string|list";

export interface DocKey {
  type: DocType;
  required?: boolean;
  /** The page's own note on the value, where it restricts it. */
  note?: string;
}

const topic: DocKey = { type: "string" };
const template: DocKey = { type: "template" };

/** Keys both schemas share, as the page lists them under each. */
const COMMON: Record<string, DocKey> = {
  availability: { type: "list" },
  availability_mode: { type: "string" },
  availability_template: template,
  availability_topic: topic,
  brightness_scale: { type: "integer" },
  command_topic: { type: "string", required: true },
  device: { type: "map" },
  enabled_by_default: { type: "boolean" },
  encoding: { type: "string" },
  entity_category: { type: "string" },
  effect_list: { type: "string|list" },
  icon: { type: "icon" },
  json_attributes_template: template,
  json_attributes_topic: topic,
  max_mireds: { type: "integer" },
  min_mireds: { type: "integer" },
  name: { type: "string", note: "can be set to null if only the device name is relevant" },
  object_id: { type: "string" },
  optimistic: { type: "boolean" },
  payload_available: { type: "string" },
  payload_not_available: { type: "string" },
  qos: { type: "integer" },
  retain: { type: "boolean" },
  schema: { type: "string" },
  state_topic: topic,
  unique_id: { type: "string" },
  white_scale: { type: "integer" },
};

/** "Default schema - Configuration". */
export const DEFAULT_SCHEMA_KEYS: Record<string, DocKey> = {
  ...COMMON,
  schema: { type: "string", note: "must be `default` or omitted" },
  brightness_command_topic: topic,
  brightness_command_template: template,
  brightness_state_topic: topic,
  brightness_value_template: template,
  color_mode_state_topic: topic,
  color_mode_value_template: template,
  color_temp_command_template: template,
  color_temp_command_topic: topic,
  color_temp_state_topic: topic,
  color_temp_value_template: template,
  effect_command_topic: topic,
  effect_command_template: template,
  effect_state_topic: topic,
  effect_value_template: template,
  hs_command_template: template,
  hs_command_topic: topic,
  hs_state_topic: topic,
  hs_value_template: template,
  on_command_type: { type: "string" },
  payload_off: { type: "string" },
  payload_on: { type: "string" },
  rgb_command_template: template,
  rgb_command_topic: topic,
  rgb_state_topic: topic,
  rgb_value_template: template,
  rgbw_command_template: template,
  rgbw_command_topic: topic,
  rgbw_state_topic: topic,
  rgbw_value_template: template,
  rgbww_command_template: template,
  rgbww_command_topic: topic,
  rgbww_state_topic: topic,
  rgbww_value_template: template,
  state_value_template: template,
  white_command_topic: topic,
  xy_command_template: template,
  xy_command_topic: topic,
  xy_state_topic: topic,
  xy_value_template: template,
};

/** "JSON schema - Configuration". */
export const JSON_SCHEMA_KEYS: Record<string, DocKey> = {
  ...COMMON,
  schema: { type: "string", note: "must be `json`" },
  brightness: { type: "boolean" },
  effect: { type: "boolean" },
  flash_time_long: { type: "integer" },
  flash_time_short: { type: "integer" },
  supported_color_modes: { type: "list", note: "if onoff or brightness are used, that must be the only value in the list" },
};

/** The keys of `device` that both schemas' sections list. */
export const DEVICE_KEYS: Record<string, DocType> = {
  configuration_url: "string",
  connections: "list",
  identifiers: "string|list",
  manufacturer: "string",
  model: "string",
  name: "string",
  serial_number: "string",
  sw_version: "string",
};

/** The color modes the page names for supported_color_modes. */
export const COLOR_MODES = ["onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white"];

/** The elements the page allows in a JSON-schema state payload (`color` aside, which holds color values). */
export const JSON_STATE_KEYS = ["state", "color_mode", "color", "brightness", "color_temp", "effect"];

function fits(value: unknown, type: DocType): boolean {
  switch (type) {
    case "string":
    case "template":
    case "icon":
      return typeof value === "string";
    case "integer":
      return Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "list":
      return Array.isArray(value);
    case "map":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "string|list":
      return typeof value === "string" || (Array.isArray(value) && value.every((item) => typeof item === "string"));
  }
}

/** Every way `config` departs from the page: unknown keys, wrong types, missing required keys, bad values. */
export function checkLightConfig(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const json = config.schema === "json";
  if (config.schema !== undefined && config.schema !== "json" && config.schema !== "default") problems.push(`schema ${JSON.stringify(config.schema)}`);
  const keys = json ? JSON_SCHEMA_KEYS : DEFAULT_SCHEMA_KEYS;
  for (const [key, value] of Object.entries(config)) {
    const doc = keys[key];
    if (!doc) problems.push(`${key} is not a documented key of the ${json ? "JSON" : "default"} schema`);
    else if (!(fits(value, doc.type) || (key === "name" && value === null))) problems.push(`${key}: ${JSON.stringify(value)} is not a ${doc.type}`);
  }
  for (const [key, doc] of Object.entries(keys)) if (doc.required && !(key in config)) problems.push(`${key} is required`);
  if (config.device !== undefined) {
    if (!("unique_id" in config)) problems.push("device works only with unique_id");
    const device = config.device as Record<string, unknown>;
    for (const [key, value] of Object.entries(device)) {
      const type = DEVICE_KEYS[key];
      if (!type) problems.push(`device.${key} is not a documented key`);
      else if (!fits(value, type)) problems.push(`device.${key}: ${JSON.stringify(value)} is not a ${type}`);
    }
    if (!("identifiers" in device) && !("connections" in device)) problems.push("device needs identifiers or connections");
  }
  if ("availability" in config && "availability_topic" in config) problems.push("availability and availability_topic together");
  const modes = config.supported_color_modes;
  if (Array.isArray(modes)) {
    for (const mode of modes) if (!COLOR_MODES.includes(mode)) problems.push(`color mode ${JSON.stringify(mode)}`);
    if ((modes.includes("onoff") || modes.includes("brightness")) && modes.length > 1) problems.push("onoff or brightness must be the only color mode");
  }
  if (typeof config.qos === "number" && ![0, 1, 2].includes(config.qos)) problems.push(`qos ${config.qos}`);
  return problems;
}
