// A push button between a pin and ground: the pin's pull-up holds it high, a press pulls it low.

/** Calls `pressed` once per press (falling edge), debounced by Espruino's setWatch. */
export const watchButton = (pin: PinLike, pressed: () => void) => {
  pinMode(pin, "input_pullup");
  setWatch(pressed, pin, { repeat: true, edge: "falling", debounce: 50 });
};
